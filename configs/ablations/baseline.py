# Table 3, 'baseline': one network, supervised terms only (l_M, l_C).
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(
    two_networks=False, sic_loss=None, mfds_loss=None, pseudo_loss=None)
custom_hooks = []

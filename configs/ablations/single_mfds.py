# Table 3, single model + MFDS (Eq. 3).
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(two_networks=False, sic_loss=None, pseudo_loss=None)
custom_hooks = []

# Table 3, single model + SIC (Eq. 2).
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(two_networks=False, mfds_loss=None, pseudo_loss=None)
custom_hooks = []

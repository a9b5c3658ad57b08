# Table 3, single model + SIC + MFDS.
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(two_networks=False, pseudo_loss=None)
custom_hooks = []

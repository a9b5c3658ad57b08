# Table 3, single model + SIC + MFDS.
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(
    two_networks=False, use_sic=True, use_mfds=True,
    use_pseudo_labels=False)
custom_hooks = []

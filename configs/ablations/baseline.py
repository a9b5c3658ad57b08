# Table 3, 'baseline': one network, supervised terms only (l_M, l_C).
_base_ = ['../tsal_hrnet_300vw.py']
model = dict(
    two_networks=False, use_sic=False, use_mfds=False,
    use_pseudo_labels=False)
custom_hooks = []

# configs/tsal_hrnet_300w_300vw.py as shipped, with a hook that records the
# sources of every batch (tests/data/batch_source_hook.py), for the mixed
# training tests. Set the data with --cfg-options.
_base_ = ['../../../configs/tsal_hrnet_300w_300vw.py']
custom_imports = dict(
    imports=['tsal_mmpose', 'tests.data.batch_source_hook'],
    allow_failed_imports=False)
custom_hooks = _base_.custom_hooks + [dict(type='BatchSourceHook')]

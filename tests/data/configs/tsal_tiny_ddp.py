# The CPU TSAL config with a hook that dumps each rank's weights, for the
# distributed training test. Set the data roots with --cfg-options.
_base_ = ['../../../configs/tsal_tiny_synthetic.py']
custom_imports = dict(
    imports=['tsal_mmpose', 'tests.data.rank_state_hook'],
    allow_failed_imports=False)
custom_hooks = [
    dict(type='QueueTeacherHook', queue_size=2, smoothing=0.5),
    dict(type='RankStateDumpHook'),
]
train_cfg = dict(val_interval=100)
default_hooks = dict(
    checkpoint=dict(interval=2, save_best=None), logger=dict(interval=1))
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader

# The paper's schedule (Sec. 4.2) in place of mmpose's: Adam, lr 1.25e-4
# for a batch of 8, x0.1 at epoch 90 and x0.01 at epoch 120, 140 epochs,
# no warm-up.
_base_ = ['../models/tsal_hrnet_w18.py']
train_cfg = dict(max_epochs=140, val_interval=10)
auto_scale_lr = dict(base_batch_size=8)
# The centre-to-landmark offsets (heatmap pixels, from a layer initialised
# at std 0.001) learn ten times faster than the rest: at the common rate
# they lagged (docs/benchmarks/2026-11-30_tsal_hrnet_w18.md).
optim_wrapper = dict(
    optimizer=dict(lr=1.25e-4),
    paramwise_cfg=dict(custom_keys={'head.offset_layer': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=140,
        milestones=[90, 120],
        gamma=0.1,
        by_epoch=True)
]
# No checkpoint with NaN or infinite weights is written: training stops
# instead (the estimator already stops on a non-finite loss term).
default_hooks = dict(finite_checkpoint=dict(type='FiniteCheckpointHook'))

# The paper's schedule (Sec. 4.2): Adam, lr 1.25e-4, x0.1 at epoch 90 and
# x0.01 at epoch 120, 140 epochs, on mmpose's default runtime.
_base_ = ['mmpose::_base_/default_runtime.py']
train_cfg = dict(by_epoch=True, max_epochs=140, val_interval=10)
# The TSAL head's centre-to-landmark offsets (heatmap pixels, from a layer
# initialised at std 0.001) learn ten times faster than the rest: at the
# common rate their L1 error was still 1.5 heatmap pixels at the end of a
# training on the embedded benchmark, 0.76 with this and the offset loss
# weight of the model config.
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1.25e-4),
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

# The paper's schedule (Sec. 4.2): Adam, lr 1.25e-4, x0.1 at epoch 90 and
# x0.01 at epoch 120, 140 epochs, on mmpose's default runtime.
_base_ = ['mmpose::_base_/default_runtime.py']
train_cfg = dict(by_epoch=True, max_epochs=140, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1.25e-4))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=140,
        milestones=[90, 120],
        gamma=0.1,
        by_epoch=True)
]

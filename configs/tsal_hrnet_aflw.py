# The TSAL head in mmpose's stock TopdownPoseEstimator on AFLW images (19 points):
# HRNetV2-W18 at 256x256 predicting landmark heatmaps, the face centre and
# centre-to-landmark offsets; p = 0.8 * p_M + 0.2 * p_C at test time.
# Single images carry no motion, so the clip terms (SIC, MFDS, pseudo-labels)
# do not apply; the schedule is the paper's (Adam 1.25e-4, 140 epochs).
_base_ = [
    'mmpose::_base_/default_runtime.py',
    './_base_/datasets/face_aflw.py',
    './_base_/models/tsal_hrnet_w18.py',
]

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
default_hooks = dict(
    checkpoint=dict(save_best='NME_face_size', rule='less', interval=10))

codec = dict(_delete_=True, **_base_.tsal_codec)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=_base_.network.backbone,
    neck=_base_.network.neck,
    head=dict(_base_.network.head, out_channels=19),
    test_cfg=_base_.network.test_cfg)

train_pipeline = _base_.train_pipeline[:-2] + [
    dict(type='GenerateTarget', encoder=_base_.tsal_codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

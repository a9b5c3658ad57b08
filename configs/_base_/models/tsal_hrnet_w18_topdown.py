# The TSAL head in mmpose's stock TopdownPoseEstimator (single images): the
# backbone, neck and head of one TSAL network, without the motion field.
_base_ = ['./tsal_hrnet_w18.py']
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=_base_.network.backbone,
    neck=_base_.network.neck,
    head=_base_.network.head,
    test_cfg=_base_.network.test_cfg)

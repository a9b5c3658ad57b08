# One TSAL network (teacher and student each are one): mmpose's face
# HRNetV2-W18 at 256x256, inherited whole from its 300W config, with what
# TSAL changes: a TSALHead (landmark heatmaps H, face-centre heatmap C,
# centre-to-landmark offsets O, Sec. 3.1-3.2) with its codec, and no ImageNet
# weights. `model` is that network in mmpose's TopdownPoseEstimator;
# `network` holds its parts and a motion-field module, for TSALEstimator.
# The schedule and data are replaced further down the chain of `_base_`
# files (docs/design/configs.md).
# Why each setting: docs/benchmarks/2026-11-30_tsal_hrnet_w18.md
_base_ = ['mmpose::face_2d_keypoint/topdown_heatmap/300w/'
          'td-hm_hrnetv2-w18_8xb64-60e_300w-256x256.py']
custom_imports = dict(imports=['tsal_mmpose'], allow_failed_imports=False)

codec = dict(_base_.codec, type='TSALLabel', center_mode='bbox', gamma=0.8)
# l_M and the pseudo-heatmap losses (Eqs. 4-5) sum the squared error over
# landmarks and heatmap pixels (Dong et al.); KeypointMSELoss averages them.
heatmap_loss_weight = 68 * 64 * 64
network = dict(
    # the paper does not say whether it starts from ImageNet weights
    backbone=dict(_base_.model.backbone, init_cfg=None),
    neck=_base_.model.neck,
    head=dict(
        _base_.model.head,
        type='TSALHead',
        # plain 1x1 centre and offset outputs (the paper does not specify
        # them): 3x3 branches were worse and cost 28% of the backbone FLOPs
        branch_channels=0,
        loss=dict(_base_.model.head.loss, loss_weight=heatmap_loss_weight),
        # offsets in heatmap pixels: with weight 1 (CenterNet's) p_C lagged
        # far behind p_M; 10, with the schedule's 10x offset learning rate
        offset_loss=dict(
            type='L1Loss', use_target_weight=True, loss_weight=10.0),
        decoder=codec),
    motion_field=dict(type='MotionFieldNeck', stride=4),
    test_cfg=_base_.model.test_cfg)
# mmpose's single-image model with this backbone and head
model = dict(backbone=network['backbone'], head=network['head'])
# mmpose's 300W training pipeline, its targets encoded by the TSAL codec
train_pipeline = [
    dict(step, encoder=codec) if step['type'] == 'GenerateTarget' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# The head's predictions besides the fused p: FaceLandmarkMetric(sources=...)
# reports their NME too.
landmark_sources = dict(lhr='keypoints_lhr', clor='keypoints_clor')

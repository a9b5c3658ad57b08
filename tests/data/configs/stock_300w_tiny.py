# A stock mmpose face model (TopdownPoseEstimator + HeatmapHead) inherited from
# mmpose's own 300W config, shrunk so that it trains in seconds on CPU.
# `data_root` defaults to the package's 300W samples; set it with
# --cfg-options.
_base_ = ['mmpose::face_2d_keypoint/topdown_heatmap/300w/'
          'td-hm_hrnetv2-w18_8xb64-60e_300w-256x256.py']
custom_imports = dict(imports=['tsal_mmpose'], allow_failed_imports=False)

data_root = 'tsal_mmpose/datasets/synthetic/faces/300w/'
codec = dict(
    type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=1.0)
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=4, val_interval=4)
param_scheduler = []
optim_wrapper = dict(optimizer=dict(lr=1e-3))
default_hooks = dict(
    checkpoint=dict(interval=2, by_epoch=False, save_best=None),
    logger=dict(interval=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
model = dict(
    backbone=dict(
        extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(8, )),
            stage2=dict(num_blocks=(1, 1), num_channels=(8, 16)),
            stage3=dict(
                num_modules=1, num_blocks=(1, 1, 1), num_channels=(8, 16, 32)),
            stage4=dict(
                num_modules=1,
                num_blocks=(1, 1, 1, 1),
                num_channels=(8, 16, 32, 64))),
        init_cfg=None),
    head=dict(in_channels=120, conv_out_channels=(32, ), decoder=codec),
    test_cfg=dict(flip_test=False))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='test_300w.json',
        data_prefix=dict(img=''),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='test_300w.json',
        data_prefix=dict(img=''),
        pipeline=val_pipeline))
test_dataloader = val_dataloader

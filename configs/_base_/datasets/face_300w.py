# 300W (68 iBUG points), read by mmpose's own Face300WDataset.
# Compose with `_base_ = ['../_base_/datasets/face_300w.py']`. A model config
# that changes `codec` must rebuild `train_pipeline` / `val_pipeline` and
# assign them to the dataloaders (python configs are evaluated per file).
# Expected layout (mmpose's): data/300w/images/... and
# data/300w/annotations/face_landmarks_300w_{train,valid,test}.json
custom_imports = dict(imports=['tsal_mmpose'], allow_failed_imports=False)

dataset_type = 'Face300WDataset'
data_mode = 'topdown'
data_root = 'data/300w/'

codec = dict(
    type='MSRAHeatmap',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=1.5)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_prob=0,
        rotate_factor=60,
        scale_factor=(0.75, 1.25)),
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
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/face_landmarks_300w_train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/face_landmarks_300w_valid.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# Paper Table 1: NME by the inter-pupil distance; inter-ocular also given.
val_evaluator = dict(
    type='FaceLandmarkMetric', norm_modes=['inter_pupil', 'inter_ocular'])
test_evaluator = val_evaluator

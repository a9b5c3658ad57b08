# AFLW (19 points), read by mmpose's own AFLWDataset.
# Compose with `_base_ = ['../_base_/datasets/face_aflw.py']`. A model config
# that changes `codec` must rebuild `train_pipeline` / `val_pipeline` and
# assign them to the dataloaders (python configs are evaluated per file).
# Expected layout (mmpose's): data/aflw/images/... and
# data/aflw/annotations/face_landmarks_aflw_{train,test,test_frontal}.json
# (test annotations need `box_size`, which AFLWDataset requires in test mode).
custom_imports = dict(imports=['tsal_mmpose'], allow_failed_imports=False)

dataset_type = 'AFLWDataset'
data_mode = 'topdown'
data_root = 'data/aflw/'

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
        ann_file='annotations/face_landmarks_aflw_train.json',
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
        ann_file='annotations/face_landmarks_aflw_test.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# AFLW protocol: NME by the face size.
val_evaluator = dict(type='FaceLandmarkMetric', norm_mode='face_size')
test_evaluator = val_evaluator

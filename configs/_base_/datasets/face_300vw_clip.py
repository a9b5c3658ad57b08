# 300VW as clips of K consecutive frames, one labelled frame every 10
# (Face300VWClipDataset), in place of mmpose's 300W images; targets are the
# model's codec's, for the labelled frame only.
#
# Python configs are evaluated file by file, so a config below this one
# that changes `codec`, `input_size` or `clip_len` must rebuild the
# pipeline and hand it to the dataloader, e.g.
#
#   codec = dict(sigma=1.0)
#   train_pipeline = _base_.train_aug_pipeline + [
#       dict(type='ClipApply', frames='labelled',
#            transforms=[dict(type='GenerateTarget',
#                             encoder=dict(_base_.codec, **codec))]),
#       dict(type='PackClipInputs')]
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
#
# (`train_aug_pipeline` only depends on `input_size`.)
# Expected layout: data/300vw/images/NNN/imgs/000001.jpg (file_name
# 'NNN/imgs/000001.jpg' in the JSON), data/300vw/annotations/{train,test}.json
# and data/300vw/broken_frames.npy (mmpose's list).
_base_ = ['../schedules/tsal_adam_140e.py']

dataset_type = 'Face300VWClipDataset'
data_root = 'data/300vw/'
clip_len = 10
label_stride = 10
input_size = _base_.codec.input_size

# Official 300VW test categories (A: well-lit, B: real-world HCI,
# C: arbitrary conditions); metrics are also reported per category.
test_video_categories = {
    '114': 'A', '124': 'A', '125': 'A', '126': 'A', '150': 'A', '158': 'A',
    '401': 'A', '402': 'A', '505': 'A', '506': 'A', '507': 'A', '508': 'A',
    '509': 'A', '510': 'A', '511': 'A', '514': 'A', '515': 'A', '518': 'A',
    '519': 'A', '520': 'A', '521': 'A', '522': 'A', '524': 'A', '525': 'A',
    '537': 'A', '538': 'A', '540': 'A', '541': 'A', '546': 'A', '547': 'A',
    '548': 'A',
    '203': 'B', '208': 'B', '211': 'B', '212': 'B', '213': 'B', '214': 'B',
    '218': 'B', '224': 'B', '403': 'B', '404': 'B', '405': 'B', '406': 'B',
    '407': 'B', '408': 'B', '409': 'B', '412': 'B', '550': 'B', '551': 'B',
    '553': 'B',
    '410': 'C', '411': 'C', '516': 'C', '517': 'C', '526': 'C', '528': 'C',
    '529': 'C', '530': 'C', '531': 'C', '533': 'C', '557': 'C', '558': 'C',
    '559': 'C', '562': 'C'
}

# One flip / bbox transform (translation, scale, rotation) / colour jitter
# per clip, applied to all its frames; every frame of a training clip is
# cropped with the labelled frame's box. The augmentation ranges are choices
# (the paper names the augmentations, not their ranges).
train_aug_pipeline = [
    dict(
        type='ClipApply',
        transforms=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='RandomFlip', direction='horizontal'),
            dict(
                type='RandomBBoxTransform',
                shift_factor=0.1,
                shift_prob=0.5,
                scale_factor=(0.75, 1.25),
                rotate_factor=30,
                rotate_prob=0.5),
            dict(type='TopdownAffine', input_size=input_size),
            dict(type='PhotometricDistortion'),
        ]),
]
# Targets are encoded for the labelled frame only.
train_pipeline = train_aug_pipeline + [
    dict(
        type='ClipApply',
        frames='labelled',
        transforms=[dict(type='GenerateTarget', encoder=_base_.codec)]),
    dict(type='PackClipInputs'),
]
val_pipeline = [
    dict(
        type='ClipApply',
        transforms=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=input_size),
        ]),
    dict(type='PackClipInputs'),
]

train_dataloader = dict(
    _delete_=True,
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='clip_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        broken_frames_file='broken_frames.npy',
        clip_len=clip_len,
        label_stride=label_stride,
        pipeline=train_pipeline))
# Every frame of every test video is evaluated exactly once: the videos are
# tiled into clips, the last clip of a video may be shorter.
val_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    collate_fn=dict(type='clip_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/test.json',
        data_prefix=dict(img='images/'),
        broken_frames_file='broken_frames.npy',
        clip_len=clip_len,
        label_stride=label_stride,
        categories=test_video_categories,
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# 300VW protocol: inter-ocular NME, AUC and failure rate at 0.08.
val_evaluator = dict(
    _delete_=True,
    type='FaceLandmarkMetric',
    norm_mode='inter_ocular',
    thresholds=0.08)
test_evaluator = val_evaluator

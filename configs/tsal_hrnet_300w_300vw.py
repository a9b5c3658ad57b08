# TSAL on 300W images and 300VW clips at once (the paper's 300W rows):
# every batch holds 8 labelled 300W training images and 8 clips of 300VW
# training videos (10 frames, the first labelled), drawn by
# ExactMultiSourceSampler from a CombinedClipDataset. An image is a clip of
# one labelled frame (ImageToClip): it gets l_M and l_C, the clips every
# term. Model, losses and schedule are those of tsal_hrnet_300vw.py.
# Validation: 300W common and challenge (and their union, the full set),
# NME by the inter-pupil and inter-ocular distance; test: the 300VW test
# videos by category (tools/test.py).
# Layout: data/300w/ as face_300w.py (mmpose's 300W JSON, with
# face_landmarks_300w_valid_{common,challenge}.json), data/300vw/ as
# face_300vw_clip.py.
_base_ = ['./tsal_hrnet_300vw.py']

w300_root = 'data/300w/'
images_per_batch = 8
clips_per_batch = 8
batch_size = images_per_batch + clips_per_batch
combined_metainfo = dict(from_file='configs/_base_/datasets/300w.py')

train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(
        type='ExactMultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[images_per_batch, clips_per_batch]),
    collate_fn=dict(type='clip_collate'),
    dataset=dict(
        type='CombinedClipDataset',
        metainfo=combined_metainfo,
        datasets=[
            dict(
                type='Face300WDataset',
                data_root=w300_root,
                data_mode='topdown',
                ann_file='annotations/face_landmarks_300w_train.json',
                data_prefix=dict(img='images/'),
                pipeline=[dict(type='ImageToClip')]),
            dict(_base_.train_dataloader.dataset, pipeline=[]),
        ],
        pipeline=_base_.train_pipeline))


w300_valid = dict(
    type='Face300WDataset',
    data_root=w300_root,
    data_mode='topdown',
    data_prefix=dict(img='images/'),
    test_mode=True)

# 300W common + challenge: the metric's overall numbers are the full set,
# its per-category ones the two subsets
val_dataloader = dict(
    _delete_=True,
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    collate_fn=dict(type='clip_collate'),
    dataset=dict(
        type='CombinedClipDataset',
        metainfo=combined_metainfo,
        datasets=[
            dict(
                w300_valid,
                ann_file='annotations/face_landmarks_300w_valid_common.json',
                pipeline=[dict(type='ImageToClip', category='common')]),
            dict(
                w300_valid,
                ann_file='annotations/'
                'face_landmarks_300w_valid_challenge.json',
                pipeline=[dict(type='ImageToClip', category='challenge')]),
        ],
        pipeline=_base_.val_pipeline,
        test_mode=True))
val_evaluator = dict(
    _delete_=True,
    type='FaceLandmarkMetric',
    norm_modes=['inter_pupil', 'inter_ocular'],
    sources=_base_.landmark_sources)
default_hooks = dict(
    checkpoint=dict(save_best='NME_inter_pupil', rule='less'))
# test_dataloader / test_evaluator: the 300VW test videos of
# tsal_hrnet_300vw.py (inter-ocular NME, AUC@0.08 per category A, B, C)

# The small CPU TSAL (tsal_tiny_synthetic.py) trained on labelled images and
# sparsely labelled clips at once: every batch holds 4 labelled stills of
# the training identities (300W-style JSON, made by
# tools/make_synthetic_300vw.py --train-stills N) and 4 clips of the
# training videos. Images get l_M and l_C; clips get every term.
_base_ = ['./tsal_tiny_synthetic.py']

images_per_batch = 4
clips_per_batch = 4
batch_size = images_per_batch + clips_per_batch
train_dataloader = dict(
    _delete_=True,
    batch_size=batch_size,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(
        type='ExactMultiSourceSampler',
        batch_size=batch_size,
        source_ratio=[images_per_batch, clips_per_batch]),
    collate_fn=dict(type='clip_collate'),
    dataset=dict(
        type='CombinedClipDataset',
        metainfo=dict(from_file='configs/_base_/datasets/300w.py'),
        datasets=[
            dict(
                type='Face300WDataset',
                data_root=_base_.data_root,
                data_mode='topdown',
                ann_file='annotations/stills_train.json',
                data_prefix=dict(img='stills/'),
                pipeline=[dict(type='ImageToClip')]),
            dict(
                type='Face300VWClipDataset',
                data_root=_base_.data_root,
                ann_file='annotations/train.json',
                data_prefix=dict(img='images/'),
                broken_frames_file=None,
                clip_len=_base_.clip_len,
                label_stride=_base_.label_stride),
        ],
        pipeline=_base_.train_pipeline))

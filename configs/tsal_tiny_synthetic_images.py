# The small CPU TSAL (tsal_tiny_synthetic.py) on labelled images only: the
# stills of the training identities (tools/make_synthetic_300vw.py
# --train-stills N), 4 per batch, each a clip of one labelled frame, so
# that only l_M and l_C apply. The supervised image row of the mixed
# training benchmark (tools/benchmark/accuracy.py, images_supervised).
_base_ = ['./tsal_tiny_synthetic.py']

train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='clip_collate'),
    dataset=dict(
        type='Face300WDataset',
        data_root=_base_.data_root,
        data_mode='topdown',
        ann_file='annotations/stills_train.json',
        data_prefix=dict(img='stills/'),
        pipeline=[dict(type='ImageToClip')] + _base_.train_pipeline))

# A small TSAL for CPUs, on the embedded synthetic 300VW-layout benchmark
# (tools/make_synthetic_300vw.py --convert): a narrow HRNet at 96x96,
# clips of 4 frames with one labelled frame in 10, iteration-based schedule
# with the paper's proportions (lr x0.1 at 90/140 and x0.01 at 120/140 of
# the run, w(t) ramp 60/110/140).
_base_ = ['./tsal_hrnet_300vw.py']

data_root = 'data/synthetic_300vw/'
max_iters = 300
input_size = (96, 96)
clip_len = 4

train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        milestones=[max_iters * 90 // 140, max_iters * 120 // 140],
        gamma=0.1,
        by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters // 4))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

codec = dict(input_size=input_size, heatmap_size=(24, 24), sigma=1.0)
heatmap_loss_weight = 68 * 24 * 24  # N * h * w, see the base model config
model = dict(
    backbone=dict(  # HRNet's W18 layout, one block per stage, 16-128 wide
        extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(16, )),
            stage2=dict(num_blocks=(1, 1), num_channels=(16, 32)),
            stage3=dict(
                num_modules=1,
                num_blocks=(1, 1, 1),
                num_channels=(16, 32, 64)),
            stage4=dict(
                num_modules=1,
                num_blocks=(1, 1, 1, 1),
                num_channels=(16, 32, 64, 128)))),
    head=dict(
        _base_.model.head,
        in_channels=240,
        conv_out_channels=(64, ),
        loss=dict(_base_.model.head.loss, loss_weight=heatmap_loss_weight),
        decoder=dict(_base_.codec, **codec)),
    motion_field=dict(
        type='MotionFieldNeck',
        base_channels=8,
        stride=4,
        max_displacement=3),
    pseudo_loss=dict(loss_weight=heatmap_loss_weight),
    unsup_weight=dict(
        ramp_up=max_iters * 60 // 140,
        hold=max_iters * 110 // 140,
        total=max_iters,
        unit='iter'))

# the 300VW clip pipelines at this input size and codec
train_aug_pipeline = [
    dict(
        step,
        transforms=[
            dict(t, input_size=input_size)
            if t['type'] == 'TopdownAffine' else t
            for t in step['transforms']
        ]) for step in _base_.train_aug_pipeline
]
train_pipeline = train_aug_pipeline + [
    dict(
        type='ClipApply',
        frames='labelled',
        transforms=[
            dict(type='GenerateTarget', encoder=dict(_base_.codec, **codec))
        ]),
    dict(type='PackClipInputs'),
]
val_pipeline = [
    dict(
        step,
        transforms=[
            dict(t, input_size=input_size)
            if t['type'] == 'TopdownAffine' else t
            for t in step['transforms']
        ]) if step['type'] == 'ClipApply' else step
    for step in _base_.val_pipeline
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/train.json',
        broken_frames_file=None,
        clip_len=clip_len,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/test.json',
        broken_frames_file=None,
        clip_len=clip_len,
        categories='annotations/categories.json',
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(norm_mode=['inter_ocular', 'inter_pupil'])
test_evaluator = val_evaluator

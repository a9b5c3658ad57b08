# The row a user would otherwise pick: plain mmpose, a TopdownPoseEstimator
# with a HeatmapHead (MSRA heatmaps, KeypointMSELoss) on the same backbone,
# trained on the labelled frames only (clips of one frame: the label stride's
# frames), with the data, budget and test set of tsal_micro_synthetic.py.
# Only the clip data plumbing is TSAL's, so that both are scored by one
# metric on one test set (docs/benchmarks/label_efficiency.md).
_base_ = ['./tsal_micro_synthetic.py']

codec = dict(
    type='MSRAHeatmap',
    input_size=_base_.input_size,
    heatmap_size=(16, 16),
    sigma=1.0)
model = dict(
    _delete_=True,
    type='TopdownPoseEstimator',
    data_preprocessor=_base_.model.data_preprocessor,
    backbone=_base_.model.backbone,
    neck=_base_.model.neck,
    head=dict(
        type='HeatmapHead',
        in_channels=_base_.model.head.in_channels,
        out_channels=_base_.model.head.out_channels,
        deconv_out_channels=None,
        conv_out_channels=_base_.model.head.conv_out_channels,
        conv_kernel_sizes=_base_.model.head.conv_kernel_sizes,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=_base_.model.test_cfg)
train_pipeline = _base_.train_aug_pipeline + [
    dict(
        type='ClipApply',
        frames='labelled',
        transforms=[dict(type='GenerateTarget', encoder=codec)]),
    dict(type='PackClipInputs'),
]
train_dataloader = dict(
    dataset=dict(clip_len=1, pipeline=train_pipeline))
custom_hooks = []
# a HeatmapHead has no LHR / CLOR landmarks besides its prediction
val_evaluator = dict(sources=None)
test_evaluator = val_evaluator

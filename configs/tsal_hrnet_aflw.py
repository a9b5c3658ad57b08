# The TSAL head in mmpose's stock TopdownPoseEstimator on AFLW images (19
# points, NME by face size); otherwise as configs/tsal_hrnet_300w.py.
_base_ = [
    './_base_/datasets/face_aflw.py',
    './_base_/models/tsal_hrnet_w18_topdown.py',
    './_base_/schedules/tsal_adam_140e.py',
]
default_hooks = dict(
    checkpoint=dict(save_best='NME_face_size', rule='less', interval=10))

codec = dict(_delete_=True, **_base_.tsal_codec)
model = dict(
    head=dict(out_channels=19, loss=dict(loss_weight=19 * 64 * 64)))  # N*h*w
train_pipeline = _base_.train_pipeline[:-2] + [
    dict(type='GenerateTarget', encoder=_base_.tsal_codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(sources=_base_.landmark_sources)  # p_M and p_C too
test_evaluator = val_evaluator

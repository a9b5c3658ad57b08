# The TSAL head in mmpose's stock TopdownPoseEstimator on AFLW images (19
# points, NME by face size); otherwise as configs/tsal_hrnet_300w.py.
_base_ = ['./_base_/datasets/face_aflw.py']
default_hooks = dict(
    checkpoint=dict(save_best='NME_face_size', rule='less', interval=10))
model = dict(
    head=dict(out_channels=19, loss=dict(loss_weight=19 * 64 * 64)))  # N*h*w
val_evaluator = dict(sources=_base_.landmark_sources)  # p_M and p_C too
test_evaluator = val_evaluator

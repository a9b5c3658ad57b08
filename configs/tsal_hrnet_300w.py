# The TSAL head in mmpose's stock TopdownPoseEstimator on 300W images:
# HRNetV2-W18 at 256x256 predicting landmark heatmaps, the face centre and
# centre-to-landmark offsets; p = 0.8 * p_M + 0.2 * p_C at test time.
# Single images carry no motion, so the clip terms (SIC, MFDS, pseudo-labels)
# do not apply; the schedule is the paper's.
_base_ = ['./_base_/datasets/face_300w.py']
default_hooks = dict(
    checkpoint=dict(save_best='NME_inter_pupil', rule='less', interval=10))
val_evaluator = dict(sources=_base_.landmark_sources)  # p_M and p_C too
test_evaluator = val_evaluator

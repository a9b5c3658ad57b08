# TSAL on 300VW with HRNetV2-W18 at 256x256: the paper's training setup.
# Clips of 10 frames, the first labelled (1 in 10); Adam 1.25e-4, x0.1 at
# epoch 90 and x0.01 at 120 of 140; batch 8 clips for each network;
# mu = 0.6 (Eq. 5), gamma = 0.8 (test-time fusion), w(t) ramps up over
# epochs 1-60, holds to 110 and ramps down to 140.
# The chain of `_base_` files: mmpose's face HRNetV2-W18 config <- the TSAL
# network <- the paper's schedule <- 300VW clips <- this file.
_base_ = ['./_base_/datasets/face_300vw_clip.py']

default_hooks = dict(
    checkpoint=dict(
        interval=5, max_keep_ckpts=3, save_best='NME_inter_ocular',
        rule='less'))
# Eq. 8 after every iteration: teacher = lambda * teacher + (1 - lambda) *
# mean of the last v student snapshots. The paper leaves v and lambda for
# v > 1 open (v = 1, lambda = 0.999 is Mean Teacher); these are our defaults
# (docs/benchmarks/accuracy.md).
custom_hooks = [dict(type='QueueTeacherHook', queue_size=5, smoothing=0.99)]

model = dict(
    _delete_=True,
    type='TSALEstimator',
    **_base_.network,
    data_preprocessor=dict(
        _base_.model.data_preprocessor, type='ClipDataPreprocessor'),
    mu=0.6,
    # L_I sums 68 offset moduli per frame, l_C's offset term is a mean: a
    # small weight (docs/benchmarks/2026-11-30_tsal_hrnet_w18.md)
    sic_loss=dict(type='SICLoss', loss_weight=1e-4),
    # L_D is in heatmap pixels and trains the motion field only.
    mfds_loss=dict(type='MFDSLoss', loss_weight=0.1),
    # in the units of l_M (its sigma is the codec's)
    pseudo_loss=dict(
        type='PseudoHeatmapLoss', loss_weight=_base_.heatmap_loss_weight),
    unsup_weight=dict(ramp_up=60, hold=110, total=140, unit='epoch'))

# the fused landmarks p, and beside them p_M (LHR) and p_C (CLOR)
val_evaluator = dict(sources=_base_.landmark_sources)
test_evaluator = val_evaluator

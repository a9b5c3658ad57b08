# One TSAL network (teacher and student each are one): HRNetV2-W18 at
# 256x256, a TSALHead (landmark heatmaps H, face-centre heatmap C,
# centre-to-landmark offsets O, Sec. 3.1-3.2) and a motion-field module.
# Compose with `_base_`: `network` holds the parts of one network (the
# arguments TSALEstimator and mmpose's TopdownPoseEstimator share, plus
# `motion_field`); model configs unpack it into `model`.
tsal_codec = dict(
    type='TSALLabel',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=1.5,
    center_mode='bbox',
    gamma=0.8)
# l_M and the pseudo-heatmap losses (Eqs. 4-5) are Dong et al.'s heatmap
# regression error: squared error summed over landmarks and heatmap pixels,
# averaged over images. mmpose's KeypointMSELoss averages over all three,
# so its weight is N * h * w. (At mmpose's unit weight the heatmap term is
# about 1e-3 and the centre and offset terms starve it: a supervised tiny
# model reached 21.5% NME at weight 1, 9.4% at 1e4 and 7.8% at N * h * w,
# tools/benchmark/accuracy.py --sweep model.head.loss.loss_weight=...
# --sweep-method baseline.)
heatmap_loss_weight = 68 * 64 * 64
network = dict(
    backbone=dict(
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(4, ),
                num_channels=(64, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(4, 4),
                num_channels=(18, 36)),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(18, 36, 72)),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(18, 36, 72, 144),
                multiscale_output=True),
            upsample=dict(mode='bilinear', align_corners=False)),
        # The paper does not say whether it starts from ImageNet weights;
        # with internet access, mmpose's
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='open-mmlab://msra/hrnetv2_w18')
        # may be set here.
        init_cfg=None),
    neck=dict(type='FeatureMapProcessor', concat=True),
    head=dict(
        type='TSALHead',
        in_channels=270,
        out_channels=68,
        deconv_out_channels=None,
        conv_out_channels=(270, ),
        conv_kernel_sizes=(1, ),
        # centre and offset outputs: plain 1x1 convolutions (the paper does
        # not specify them). A 3x3 conv of 64 channels before each made the
        # tiny supervised model worse on the embedded benchmark (NME 8.15
        # against 7.55, p_C 10.25 against 8.27, mean of seeds 0-2; --sweep
        # model.head.branch_channels=64 --sweep-method baseline) and costs
        # 28% of the backbone's FLOPs at 256x256.
        branch_channels=0,
        loss=dict(
            type='KeypointMSELoss',
            use_target_weight=True,
            loss_weight=heatmap_loss_weight),
        # centre-to-landmark offsets in heatmap pixels. With CenterNet's
        # weight 1 (and its box-size weight 0.1 before that) the CLOR
        # landmarks p_C lagged far behind the heatmaps' p_M; weight 10 and
        # a 10x learning rate of the offset layer (the schedule config)
        # took the tiny supervised model's p_C from 10.9% to 8.5% NME on
        # the embedded benchmark (tools/benchmark/accuracy.py, seed 0).
        offset_loss=dict(
            type='L1Loss', use_target_weight=True, loss_weight=10.0),
        decoder=tsal_codec),
    motion_field=dict(type='MotionFieldNeck', stride=4),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))
# The head's predictions besides the fused p: FaceLandmarkMetric(sources=...)
# reports their NME too.
landmark_sources = dict(lhr='keypoints_lhr', clor='keypoints_clor')

"""The HRNet-W18 model base is mmpose's face HRNetV2-W18 config, inherited
through ``mmpose::``, plus TSAL's changes: the head, its codec, and no
ImageNet initialisation."""
import ast
from itertools import chain
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmpose.registry import MODELS

import tsal_mmpose  # noqa: F401

MODELS_DIR = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / \
    'models'
#: mmpose's face HRNetV2-W18 configs; all four share one backbone.
MMPOSE_FACE = [
    'mmpose::face_2d_keypoint/topdown_heatmap/' + name for name in (
        '300w/td-hm_hrnetv2-w18_8xb64-60e_300w-256x256.py',
        'wflw/td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py',
        'aflw/td-hm_hrnetv2-w18_8xb64-60e_aflw-256x256.py',
        'cofw/td-hm_hrnetv2-w18_8xb64-60e_cofw-256x256.py')
]


@pytest.fixture(scope='module')
def base():
    return Config.fromfile(str(MODELS_DIR / 'tsal_hrnet_w18.py'))


@pytest.fixture(scope='module')
def network(base):
    return base.network


@pytest.fixture(scope='module')
def mmpose_300w():
    return get_config(MMPOSE_FACE[0]).model


@pytest.mark.parametrize('mmpose_cfg', MMPOSE_FACE)
def test_backbone_neck_and_test_cfg_are_mmpose_face_hrnetv2_w18(
        network, mmpose_cfg):
    ref = get_config(mmpose_cfg).model
    assert ref.backbone.init_cfg.checkpoint == 'open-mmlab://msra/hrnetv2_w18'
    # the one change: no ImageNet weights (the paper does not mention them)
    assert network.backbone.to_dict() == dict(
        ref.backbone.to_dict(), init_cfg=None)
    assert network.neck.to_dict() == ref.neck.to_dict()
    assert network.test_cfg.to_dict() == ref.test_cfg.to_dict()


def test_head_keeps_mmpose_layout_and_codec_geometry(network, mmpose_300w):
    head, ref = network.head, mmpose_300w.head
    assert (head.type, ref.type) == ('TSALHead', 'HeatmapHead')
    for key in ('in_channels', 'out_channels', 'deconv_out_channels',
                'conv_out_channels', 'conv_kernel_sizes'):
        assert head[key] == ref[key], key
    # l_M summed over N landmarks and h x w heatmap pixels, not averaged
    assert head.loss.to_dict() == dict(
        ref.loss.to_dict(), loss_weight=68 * 64 * 64)
    for key in ('input_size', 'heatmap_size', 'sigma'):
        assert head.decoder[key] == ref.decoder[key], key
    assert (head.decoder.type, ref.decoder.type) == ('TSALLabel',
                                                      'MSRAHeatmap')


def _layout(module: torch.nn.Module) -> list:
    return [(name, tuple(x.shape), x.dtype) for name, x in chain(
        module.named_parameters(), module.named_buffers())]


def test_built_backbone_is_mmpose_hrnetv2_w18(network, mmpose_300w):
    ours = MODELS.build(network.backbone)
    theirs = MODELS.build(dict(mmpose_300w.backbone, init_cfg=None))
    assert _layout(ours) == _layout(theirs)
    # HRNetV2-W18's parameter count, as built from this base before it
    # was checked against mmpose's config
    assert sum(p.numel() for p in ours.parameters()) == 9_562_260


def test_topdown_model_is_mmpose_face_model_with_the_tsal_network(
        base, network, mmpose_300w):
    model = base.model
    assert model.type == mmpose_300w.type == 'TopdownPoseEstimator'
    assert model.data_preprocessor.to_dict() == \
        mmpose_300w.data_preprocessor.to_dict()
    for key in ('backbone', 'neck', 'head', 'test_cfg'):
        assert model[key].to_dict() == network[key].to_dict(), key


def test_network_follows_the_mmpose_config_it_inherits(tmp_path):
    """Nothing of mmpose's network is spelled out in the model base: pointed
    at a variant of mmpose's config, it takes the variant's backbone, neck,
    head layout, codec geometry and test settings."""
    variant = tmp_path / 'mmpose_variant.py'
    variant.write_text(
        f"_base_ = ['{MMPOSE_FACE[0]}']\n"
        'codec = dict(sigma=2.0)\n'
        'model = dict(\n'
        '    backbone=dict(\n'
        '        extra=dict(stage4=dict(num_channels=(16, 32, 64, 128)))),\n'
        '    neck=dict(concat=False),\n'
        '    head=dict(in_channels=240, conv_out_channels=(64, )),\n'
        '    test_cfg=dict(flip_test=False))\n')
    source = (MODELS_DIR / 'tsal_hrnet_w18.py').read_text()
    base_line, = [
        node for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and [
            getattr(t, 'id', None) for t in node.targets] == ['_base_']
    ]
    assert ast.literal_eval(base_line.value) == [MMPOSE_FACE[0]]
    lines = source.splitlines()
    lines[base_line.lineno - 1:base_line.end_lineno] = [
        f"_base_ = ['{variant}']"]
    rebased = tmp_path / 'tsal_hrnet_w18.py'
    rebased.write_text('\n'.join(lines) + '\n')

    cfg = Config.fromfile(str(rebased))
    for parts in (cfg.network, cfg.model):
        assert parts.backbone.extra.stage4.num_channels == (16, 32, 64, 128)
        assert parts.backbone.extra.stage3.num_channels == (18, 36, 72)
        assert parts.backbone.init_cfg is None
        assert parts.neck.concat is False
        assert parts.head.type == 'TSALHead'
        assert (parts.head.in_channels,
                parts.head.conv_out_channels) == (240, (64, ))
        assert (parts.head.decoder.type, parts.head.decoder.sigma) == (
            'TSALLabel', 2.0)
        assert parts.test_cfg.flip_test is False
    encoder, = [
        step.encoder for step in cfg.train_dataloader.dataset.pipeline
        if step.type == 'GenerateTarget'
    ]
    assert (encoder.type, encoder.sigma) == ('TSALLabel', 2.0)

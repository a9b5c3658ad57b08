"""The dataset config fragments of configs/_base_/datasets on real faces."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS, DefaultScope
from mmpose.registry import DATASETS, MODELS

import tsal_mmpose  # noqa: F401

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / \
    'datasets'


@pytest.fixture(autouse=True)
def _mmpose_scope():
    # dataset pipelines are built from the scope's registries, as a runner
    # with default_scope='mmpose' does
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


def _build(loader_cfg, **overrides):
    cfg = loader_cfg.dataset.copy()
    cfg.update(overrides)
    return DATASETS.build(cfg)


def test_300w_config_real_images(faces_dir):
    cfg = Config.fromfile(str(CONFIGS / 'face_300w.py'))
    assert cfg.dataset_type == 'Face300WDataset'
    files = dict(data_root=str(faces_dir / '300w'),
                 ann_file='test_300w.json', data_prefix=dict(img=''))
    val = _build(cfg.val_dataloader, **files)
    assert len(val) == 2
    info = val.get_data_info(0)
    assert info['img_path'].endswith('indoor_029.png')
    np.testing.assert_array_equal(info['keypoints'][0, 36],
                                  np.float32([372.146, 389.57]))
    np.testing.assert_array_equal(info['keypoints'][0, 45],
                                  np.float32([656.076, 327.782]))
    sample = val[0]
    assert sample['inputs'].shape == (3, 256, 256)
    np.testing.assert_array_equal(
        sample['data_samples'].gt_instances.keypoints[0, 36],
        np.float32([372.146, 389.57]))
    np.random.seed(0)
    train = _build(cfg.train_dataloader, **files)
    sample = train[1]
    assert sample['data_samples'].gt_fields.heatmaps.shape == (68, 64, 64)
    assert sample['data_samples'].metainfo['flip_indices'][36] == 45


def test_aflw_config_real_images(faces_dir):
    cfg = Config.fromfile(str(CONFIGS / 'face_aflw.py'))
    files = dict(data_root=str(faces_dir / 'aflw'),
                 ann_file='test_aflw.json', data_prefix=dict(img=''))
    val = _build(cfg.val_dataloader, **files)
    assert len(val) == 2
    info = val.get_data_info(0)
    assert info['keypoints'].shape == (1, 19, 2)
    assert info['box_size'] == 362.0  # image22568.jpg
    sample = _build(cfg.train_dataloader, **files)[0]
    assert sample['data_samples'].gt_fields.heatmaps.shape == (19, 64, 64)


def _codec_lines() -> str:
    try:
        from tsal_mmpose.codecs.tsal_label import TSALLabel  # noqa: F401
        kind = 'TSALLabel'
    except Exception:  # not written yet
        kind = 'MSRAHeatmap'
    return (f"codec = dict(type='{kind}', input_size=(256, 256), "
            'heatmap_size=(64, 64), sigma=1.5)\n')


def test_300vw_clip_config_override_recipe(faces_dir, tmp_path):
    # the recipe documented in the config: new codec, rebuilt pipeline
    child = tmp_path / 'child.py'
    child.write_text(
        f"_base_ = ['{CONFIGS / 'face_300vw_clip.py'}']\n" + _codec_lines() +
        'train_pipeline = _base_.train_aug_pipeline + [\n'
        "    dict(type='ClipApply', frames='labelled',\n"
        "         transforms=[dict(type='GenerateTarget', "
        'encoder=codec)]),\n'
        "    dict(type='PackClipInputs')]\n"
        'train_dataloader = dict(dataset=dict(pipeline=train_pipeline))\n')
    cfg = Config.fromfile(str(child))
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert pipeline[1].transforms[0].encoder.type == cfg.codec.type
    assert cfg.train_dataloader.dataset.broken_frames_file == \
        'broken_frames.npy'
    assert cfg.val_dataloader.dataset.categories['401'] == 'A'
    assert cfg.val_dataloader.dataset.categories['562'] == 'C'
    assert len(cfg.val_dataloader.dataset.categories) == 64

    root = faces_dir / '300vw'
    files = dict(data_root=str(root), ann_file='anno_300vw.json',
                 data_prefix=dict(img=''), clip_len=2, max_frame_gap=3)
    train = _build(cfg.train_dataloader, label_stride=5, **files)
    assert len(train) == 1
    collate = FUNCTIONS.get(cfg.train_dataloader.collate_fn.type)
    np.random.seed(1)
    batch = collate([train[0]])
    preprocessor = MODELS.build(
        dict(type='ClipDataPreprocessor', mean=[123.675, 116.28, 103.53],
             std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
    out = preprocessor(batch, training=True)
    assert out['inputs'].shape == (2, 3, 256, 256)
    s0, s1 = out['data_samples']
    assert (s0.metainfo['labelled'], s1.metainfo['labelled']) == (True,
                                                                  False)
    assert 'heatmaps' in s0.gt_fields and not hasattr(s1, 'gt_fields')
    assert not np.any(s1.gt_instances.keypoints_visible)

    val = _build(cfg.val_dataloader, **files)
    # every frame once: [001/6, 001/9] and [401/732] (731 is broken)
    batch = FUNCTIONS.get(cfg.val_dataloader.collate_fn.type)(
        [val[i] for i in range(len(val))])
    out = preprocessor(batch)
    assert out['inputs'].shape == (3, 3, 256, 256)
    meta = [(s.metainfo['video_id'], s.metainfo['frame_id'],
             s.metainfo['clip_len'], s.metainfo.get('category'))
            for s in out['data_samples']]
    assert meta == [('001', 6, 2, None), ('001', 9, 2, None),
                    ('401', 732, 1, 'A')]
    assert isinstance(out['inputs'], torch.Tensor)

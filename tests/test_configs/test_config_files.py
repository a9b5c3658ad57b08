"""Every config under configs/ inherits mmpose's face HRNetV2-W18 config
through its ``_base_`` files and builds its model."""
import ast
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS

import tsal_mmpose  # noqa: F401

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
MMPOSE_FACE_HRNETV2_W18 = (
    'mmpose::face_2d_keypoint/topdown_heatmap/300w/'
    'td-hm_hrnetv2-w18_8xb64-60e_300w-256x256.py')

# (estimator, networks, parameters of the backbone, of the model); the
# counts of the configs that had a model were the same before the model
# base inherited mmpose's config
TOPDOWN = ('TopdownPoseEstimator', [], 9_562_260, 9_691_525)
ONE = ('TSALEstimator', ['teacher'], 9_562_260, 10_122_587)
TWO = ('TSALEstimator', ['teacher', 'student'], 9_562_260, 20_245_174)
TINY = ('TSALEstimator', ['teacher', 'student'], 917_536, 2_126_902)
# plain mmpose on the tiny backbone: HRNet + FeatureMapProcessor +
# HeatmapHead, no CLOR branch, no motion field
PLAIN_TINY = ('TopdownPoseEstimator', [], 917_536, 937_508)
BUILT = {
    '_base_/models/tsal_hrnet_w18.py': TOPDOWN,
    '_base_/schedules/tsal_adam_140e.py': TOPDOWN,
    '_base_/datasets/face_300w.py': TOPDOWN,
    '_base_/datasets/face_aflw.py': TOPDOWN,  # 19 points: the config's
    '_base_/datasets/face_300vw_clip.py': TOPDOWN,
    'tsal_hrnet_300w.py': TOPDOWN,
    'tsal_hrnet_aflw.py': TOPDOWN[:3] + (9_651_688, ),  # a 19-point head
    'tsal_hrnet_300vw.py': TWO,
    'tsal_hrnet_300w_300vw.py': TWO,
    'tsal_tiny_synthetic.py': TINY,
    'tsal_tiny_synthetic_images.py': TINY,
    'tsal_tiny_synthetic_mixed.py': TINY,
    'tsal_micro_synthetic.py': TINY,  # the same layers at 64x64
    'mmpose_micro_synthetic.py': PLAIN_TINY,
    'ablations/baseline.py': ONE,
    'ablations/all_labelled.py': ONE,
    'ablations/single_sic.py': ONE,
    'ablations/single_mfds.py': ONE,
    'ablations/single_sic_mfds.py': ONE,
    'ablations/ts.py': TWO,
    'ablations/ts_sic.py': TWO,
    'ablations/ts_mfds.py': TWO,
    'ablations/mean_teacher.py': TWO,
    'ablations/teacher_instructs.py': TWO,
}


def _bases(path: Path) -> list:
    """The entries of a config file's ``_base_``."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [
                getattr(t, 'id', None) for t in node.targets] == ['_base_']:
            bases = ast.literal_eval(node.value)
            return bases if isinstance(bases, list) else [bases]
    return []


def test_every_config_is_listed():
    assert {p.relative_to(CONFIGS).as_posix()
            for p in CONFIGS.rglob('*.py')} == set(BUILT)


@pytest.mark.parametrize('name', sorted(BUILT))
def test_config_inherits_mmpose_face_hrnetv2_w18(name):
    todo, seen = [CONFIGS / name], []
    while todo:
        path = todo.pop()
        for base in _bases(path):
            if base.startswith('mmpose::'):
                seen.append(base)
            else:
                todo.append((path.parent / base).resolve())
    assert seen == [MMPOSE_FACE_HRNETV2_W18]


@pytest.mark.parametrize('name', sorted(BUILT))
def test_config_builds_its_model(name):
    kind, networks, backbone_size, size = BUILT[name]
    cfg = Config.fromfile(str(CONFIGS / name))
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == kind
    assert list(getattr(model, 'networks', {})) == networks
    backbone = model.teacher.backbone if networks else model.backbone
    assert sum(p.numel() for p in backbone.parameters()) == backbone_size
    assert sum(p.numel() for p in model.parameters()) == size

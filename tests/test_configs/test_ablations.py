"""The rows of Table 3 (configs/ablations) train exactly their terms.

Each row's variant files are applied to the tiny CPU config in order, as
the accuracy benchmark does (:func:`apply_variant`); one loss evaluation on
a batch of clips lists the terms each network is trained with.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS

import tsal_mmpose  # noqa: F401
from tsal_mmpose.testing import moving_texture_clips, pack_clips
from tsal_mmpose.utils import apply_variant

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
SUPERVISED = {'loss_heatmap', 'loss_center', 'loss_offset', 'acc_pose'}
MOTION = {'loss_photometric', 'loss_smooth'}  # l_E, every row with clips
TEACHER_STUDENT = ('teacher', 'student')

#: row -> (networks, terms besides l_M, l_C and l_E)
ROWS = {
    'baseline': (('teacher', ), set()),
    'single_sic': (('teacher', ), {'loss_sic'}),
    'single_mfds': (('teacher', ), {'loss_mfds'}),
    'single_sic_mfds': (('teacher', ), {'loss_sic', 'loss_mfds'}),
    'ts': (TEACHER_STUDENT, {'loss_pseudo'}),
    'ts_sic': (TEACHER_STUDENT, {'loss_sic', 'loss_pseudo'}),
    'ts_mfds': (TEACHER_STUDENT, {'loss_mfds', 'loss_pseudo'}),
    'mean_teacher': (TEACHER_STUDENT,
                     {'loss_sic', 'loss_mfds', 'loss_pseudo'}),
    'all_labelled': (('teacher', ), set()),
    'teacher_instructs': (TEACHER_STUDENT,
                          {'loss_sic', 'loss_mfds', 'loss_pseudo'}),
}
#: rows that are variants of another row
CHAINS = {'all_labelled': ('baseline', 'all_labelled')}


def test_every_row_is_listed():
    assert {p.stem for p in (CONFIGS / 'ablations').glob('*.py')} == set(ROWS)


@pytest.mark.parametrize('row', sorted(ROWS))
def test_row_trains_its_terms(row):
    cfg = Config.fromfile(str(CONFIGS / 'tsal_tiny_synthetic.py'))
    for variant in CHAINS.get(row, (row, )):
        apply_variant(cfg, CONFIGS / 'ablations' / f'{variant}.py')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    codec = cfg.model.head.decoder
    batch = pack_clips(
        moving_texture_clips(2, 3, codec.input_size, seed=0), codec)
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    networks, tsal_terms = ROWS[row]
    assert set(losses) == {'unsup_weight'} | {
        f'{net}/{term}'
        for net in networks for term in SUPERVISED | MOTION | tsal_terms
    }
    for name in ('sic_loss', 'mfds_loss', 'pseudo_loss'):
        assert (getattr(model, name) is None) == (
            f'loss_{name[:-5]}' not in tsal_terms), name

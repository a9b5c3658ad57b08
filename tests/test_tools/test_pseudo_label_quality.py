"""tools/analysis/pseudo_label_quality.py: sources scored on hidden labels."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint
from mmpose.registry import MODELS

from tsal_mmpose.testing import face_template, moving_texture_clips, pack_clips

from tests.test_tools.tool_loader import load_script

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'configs' / 'tsal_tiny_synthetic.py'


def load_tool():
    return load_script('tools/analysis/pseudo_label_quality.py')


def still_model(cfg: Config) -> torch.nn.Module:
    """A fresh TSAL model whose motion fields are exactly zero."""
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for net in model.networks.values():
        mfe = net.motion_field
        for head in (mfe.coarse_flow, *mfe.flow_heads):
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)
    return model.eval()


def test_still_motion_field_tracks_score_the_true_motion():
    """With zero flows the tracks stay at frame 0's labels, so their error
    on frame t is the true motion t * |shift| over the inter-ocular
    distance."""
    tool = load_tool()
    cfg = Config.fromfile(str(TINY))
    model = still_model(cfg)
    codec = cfg.model.head.decoder.to_dict()
    size = codec['input_size'][0]
    points = face_template() * 0.5 * size + size / 2
    clips = moving_texture_clips(3, 4, (size, size), seed=0, shift=(2, 1),
                                 face_points=points)
    out = tool.clip_sources(model, 'teacher', pack_clips(clips, codec))
    assert out['tracks'].shape == (3, 4, 68, 2)
    np.testing.assert_allclose(out['tracks'][:, 1:],
                               np.repeat(out['tracks'][:, :1], 3, axis=1))
    for t in range(1, 4):  # the hidden annotation, in input pixels
        np.testing.assert_allclose(out['annotation'][:, t],
                                   np.repeat(points[None], 3, 0) +
                                   [2 * t, t], atol=1e-4)
    errors = tool.nme_by_frame(out)
    io = np.linalg.norm(points[36] - points[45])
    # frame 0: the labels p_l, exactly the annotation
    np.testing.assert_allclose(out['tracks'][:, 0],
                               np.repeat(points[None], 3, 0), atol=1e-4)
    for t in range(1, 4):
        np.testing.assert_allclose(errors['tracks'][:, t],
                                   t * np.hypot(2, 1) / io, rtol=1e-4)
    # Eq. 5 with the config's mu, and the fused p with the codec's gamma
    np.testing.assert_allclose(
        out['student targets'],
        cfg.model.mu * out['tracks'] + (1 - cfg.model.mu) * out['p_C'],
        rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        out['p'], 0.8 * out['p_M'] + 0.2 * out['p_C'], rtol=1e-5, atol=1e-4)


def test_tool_on_the_embedded_benchmark(tmp_path, synthetic_300vw, capsys):
    tool = load_tool()
    cfg = Config.fromfile(str(TINY))
    ckpt = tmp_path / 'still.pth'
    save_checkpoint({'state_dict': still_model(cfg).state_dict()}, str(ckpt))
    out = tmp_path / 'quality.json'
    result = tool.main([
        str(TINY), str(ckpt), '--network', 'student', '--clips', '3',
        '--out', str(out), '--cfg-options',
        f'train_dataloader.dataset.data_root={synthetic_300vw}'
    ])
    assert json.loads(out.read_text()) == result
    assert list(result) == list(tool.SOURCES)
    for source in result.values():
        assert len(source['nme_by_frame']) == cfg.clip_len - 1
        assert source['nme'] == pytest.approx(
            np.mean(source['nme_by_frame']))
    # faces move in the benchmark videos: standing still is an error
    assert result['tracks']['nme'] > 0
    assert '| tracks |' in capsys.readouterr().out

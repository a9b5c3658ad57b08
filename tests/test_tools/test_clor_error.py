"""tools/analysis/clor_error.py: CLOR error split into centre and offsets."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint
from mmpose.registry import MODELS

from tsal_mmpose.codecs import TSALLabel
from tsal_mmpose.testing import face_template

from tests.test_tools.tool_loader import load_script

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'configs' / 'tsal_tiny_synthetic.py'
SIZE = 16


def load_tool():
    return load_script('tools/analysis/clor_error.py')


def face_and_codec():
    codec = TSALLabel(input_size=(64, 64), heatmap_size=(SIZE, SIZE))
    gt = face_template()[None] * 8 + [7.3, 7.6]  # [1, 68, 2], hm pixels
    return gt, codec


def maps(gt, peak_xy, offsets_at):
    """Centre logits peaking at ``peak_xy``; offsets of pixel (x, y) =
    ``offsets_at(x, y)`` ([68, 2])."""
    center = torch.zeros(1, 1, SIZE, SIZE)
    center[0, 0, peak_xy[1], peak_xy[0]] = 1.
    offsets = torch.zeros(1, 136, SIZE, SIZE)
    for y in range(SIZE):
        for x in range(SIZE):
            offsets[0, :, y, x] = torch.as_tensor(
                offsets_at(x, y), dtype=torch.float32).reshape(-1)
    return center, offsets


def test_offsets_from_every_pixel_are_exact_wherever_the_peak_is():
    tool = load_tool()
    gt, codec = face_and_codec()
    true_xy = tool.true_centres(gt, codec)[0]
    np.testing.assert_array_equal(true_xy, [7, 8])  # box centre (7.3, 8.2)
    center, offsets = maps(gt, (10, 3), lambda x, y: gt[0] - [x, y])
    readings = tool.clor_readings(center, offsets, gt, codec)
    result = tool.summarise(readings, gt)
    for name in tool.READINGS:
        assert result[name] == pytest.approx(0, abs=1e-4)
    assert result['centre hit rate'] == 0
    assert result['centre within 1'] == 0
    assert result['centre distance'] == pytest.approx(np.hypot(3, 5))


def test_offsets_taught_at_the_true_centre_only_by_hand():
    """Every pixel holds the offsets from the true centre (7, 8), the peak
    is 2 pixels to its right. At the true centre the landmarks are exact;
    read at a pixel shifted by (dx, dy) every landmark is off by
    |(dx, dy)|: 2 at the peak, 1 at the 4 side neighbours and sqrt(2) at
    the 4 corners, over the inter-ocular distance (outer eye corners)."""
    tool = load_tool()
    gt, codec = face_and_codec()
    center, offsets = maps(gt, (9, 8), lambda x, y: gt[0] - [7, 8])
    result = tool.summarise(tool.clor_readings(center, offsets, gt, codec),
                            gt)
    io = np.linalg.norm(gt[0, 36] - gt[0, 45])
    assert result['p_C'] == pytest.approx(100 * 2 / io, rel=1e-5)
    assert result['at the true centre'] == pytest.approx(0, abs=1e-4)
    assert result['at a neighbour'] == pytest.approx(
        100 * (4 + 4 * np.sqrt(2)) / 8 / io, rel=1e-5)
    assert result['centre hit rate'] == 0
    assert result['centre within 1'] == 0
    assert result['centre distance'] == 2
    # a peak on the true pixel is a hit and reads the exact offsets
    center, _ = maps(gt, (7, 8), lambda x, y: np.zeros((68, 2)))
    hit = tool.summarise(tool.clor_readings(center, offsets, gt, codec), gt)
    assert hit['centre hit rate'] == 100 and hit['p_C'] == pytest.approx(
        0, abs=1e-4)
    # a diagonal neighbour is within 1 pixel (Chebyshev), not a hit
    center, _ = maps(gt, (8, 9), lambda x, y: np.zeros((68, 2)))
    corner = tool.summarise(tool.clor_readings(center, offsets, gt, codec),
                            gt)
    assert corner['centre hit rate'] == 0
    assert corner['centre within 1'] == 100
    assert corner['centre distance'] == pytest.approx(np.sqrt(2))


def test_to_input_space_inverts_the_heads_mapping():
    from tsal_mmpose.models.heads import TSALHead
    tool = load_tool()
    meta = dict(input_size=(96, 96), input_scale=np.array([150., 150.]),
                input_center=np.array([200., 120.]))
    points = np.array([[[10., 20.], [80., 5.]]])
    image = TSALHead._to_image_space(points, meta)
    np.testing.assert_allclose(tool.to_input_space(image, meta), points)


def test_tool_on_the_embedded_benchmark(tmp_path, synthetic_300vw, capsys):
    """End to end: the config's test videos, flip test and JSON output."""
    tool = load_tool()
    cfg = Config.fromfile(str(TINY))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / 'init.pth'
    save_checkpoint({'state_dict': model.state_dict()}, str(ckpt))
    out = tmp_path / 'clor.json'
    result = tool.main([
        str(TINY), str(ckpt), '--network', 'student', '--out', str(out),
        '--cfg-options',
        f'test_dataloader.dataset.data_root={synthetic_300vw}'
    ])
    assert json.loads(out.read_text()) == result
    assert list(result) == list(tool.READINGS) + [
        'centre hit rate', 'centre within 1', 'centre distance'
    ]
    # an untrained network: offsets near 0 put every landmark at the peak
    assert all(result[name] > 20 for name in tool.READINGS)
    assert 0 <= result['centre hit rate'] <= result['centre within 1'] <= 100
    assert '| p_C NME |' in capsys.readouterr().out
    with pytest.raises(ValueError, match='no student'):
        tool.main([
            str(TINY), str(ckpt), '--network', 'student', '--cfg-options',
            f'test_dataloader.dataset.data_root={synthetic_300vw}',
            'model.two_networks=False'
        ])

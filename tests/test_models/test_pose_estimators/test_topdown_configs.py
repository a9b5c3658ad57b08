"""The single-image TSAL configs (300W, AFLW) from data to metrics."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmpose.registry import DATASETS, METRICS, MODELS

import tsal_mmpose  # noqa: F401

CONFIGS = Path(__file__).resolve().parents[3] / 'configs'


@pytest.mark.parametrize('name, folder, ann_file, num_points, mode', [
    ('tsal_hrnet_300w.py', '300w', 'test_300w.json', 68, 'inter_pupil'),
    ('tsal_hrnet_aflw.py', 'aflw', 'test_aflw.json', 19, 'face_size'),
])
def test_config_predicts_and_scores_every_source(faces_dir, name, folder,
                                                 ann_file, num_points, mode):
    cfg = Config.fromfile(str(CONFIGS / name))
    # l_M is summed over landmarks and heatmap pixels (N * h * w)
    assert cfg.model.head.loss.loss_weight == num_points * 64 * 64
    dataset = DATASETS.build(
        dict(cfg.test_dataloader.dataset, data_root=str(faces_dir / folder),
             ann_file=ann_file, data_prefix=dict(img='')))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    batch = pseudo_collate([dataset[0], dataset[1]])
    with torch.no_grad():
        samples = model.test_step(batch)
    pred = samples[0].pred_instances
    for key in ('keypoints', 'keypoints_lhr', 'keypoints_clor'):
        assert pred.get(key).shape == (1, num_points, 2), key
    # the three are in the same (original image) frame: p = 0.8 p_M + 0.2 p_C
    torch.testing.assert_close(
        torch.as_tensor(pred.keypoints),
        torch.as_tensor(0.8 * pred.keypoints_lhr + 0.2 * pred.keypoints_clor),
        atol=1e-3, rtol=0)

    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = dataset.metainfo
    metric.process(batch, [s.to_dict() for s in samples])
    res = metric.evaluate(2)
    for key in (f'NME_{mode}', f'NME_{mode}_lhr', f'NME_{mode}_clor'):
        assert 0.0 < res[key] < float('inf'), key

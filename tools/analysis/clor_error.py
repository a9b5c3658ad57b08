#!/usr/bin/env python3
"""Where the CLOR landmarks' error comes from: the centre peak or the offsets.

CLOR decodes ``p_C`` as the peak of the face-centre heatmap plus the
offsets read at that peak (Sec. 3.1). Training supervises the offsets at
the true centre pixel only (CenterNet; ``TSALHead(offset_radius=0)``), so
when the peak misses that pixel, the offsets come from a pixel that no
loss has taught. On the config's test videos, with its flip test, one
network of a checkpoint is scored (inter-ocular NME in %) with:

======================  =====================================================
``p_C``                 as evaluated: offsets read at the predicted peak
``at the true centre``  offsets read at the true centre pixel (the error of
                        the offsets alone)
``at a neighbour``      offsets read at one of the 8 pixels around the true
                        centre, plus that pixel (mean over the 8): how well
                        the offsets of the pixels a missed peak lands on
                        point at the landmarks
======================  =====================================================

and the centre peak's hit rate (% of frames at the true pixel), the % of
frames where it is that pixel or one of its 8 neighbours, and its mean
distance to the true pixel (heatmap pixels). The true centre is the codec's
(``TSALLabel.face_center`` of the annotation, rounded to a pixel).

Example::

    python tools/analysis/clor_error.py \\
        work_dirs/x/configs/tsal.py work_dirs/x/tsal/iter_900.pth
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.registry import FUNCTIONS, DefaultScope
from torch import Tensor

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tsal_mmpose  # noqa: E402,F401
from tsal_mmpose.codecs import TSALLabel  # noqa: E402
from tsal_mmpose.evaluation.metrics import face_nme, norm_factors  # noqa: E402
from tsal_mmpose.models.utils import (decode_clor_torch,  # noqa: E402
                                      gather_offsets)
from tsal_mmpose.utils import allow_mmengine_checkpoints  # noqa: E402

READINGS = ('p_C', 'at the true centre', 'at a neighbour')
NEIGHBOURS = tuple((dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                   if dx or dy)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config of the checkpoint')
    parser.add_argument('checkpoint', help='checkpoint')
    parser.add_argument('--network', choices=('teacher', 'student'),
                        default='teacher')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='clips per forward pass')
    parser.add_argument('--out', help='JSON file for the numbers')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides')
    return parser.parse_args(argv)


def true_centres(gt: np.ndarray, codec: TSALLabel) -> np.ndarray:
    """The codec's centre pixel of each annotated face.

    Args:
        gt (np.ndarray): ``[M, N, 2]`` landmarks in heatmap pixels.
        codec (TSALLabel): the head's codec.

    Returns:
        np.ndarray: ``[M, 2]`` int64 ``(x, y)``, clipped into the map.
    """
    w, h = codec.heatmap_size
    visible = np.ones(gt.shape[1], dtype=bool)
    centres = [np.floor(codec.face_center(g, visible) + 0.5) for g in gt]
    return np.clip(np.stack(centres), 0, [w - 1, h - 1]).astype(np.int64)


def clor_readings(center: Tensor, offsets: Tensor, gt: np.ndarray,
                  codec: TSALLabel) -> Dict[str, np.ndarray]:
    """CLOR landmarks read at the peak, the true centre and its neighbours.

    ``p_C`` is the head's decoding (:func:`decode_clor_torch`).

    Args:
        center (Tensor): ``[M, 1, h, w]`` centre logits.
        offsets (Tensor): ``[M, 2N, h, w]`` offsets (channel ``2n`` = dx).
        gt (np.ndarray): ``[M, N, 2]`` annotation in heatmap pixels.
        codec (TSALLabel): the head's codec (its face centre).

    Returns:
        dict: ``'p_C'`` and ``'at the true centre'`` ``[M, N, 2]``,
        ``'at a neighbour'`` ``[M, 8, N, 2]`` (in :data:`NEIGHBOURS`
        order), in heatmap pixels, and ``'centre distance'`` ``[M]``, the
        peak's distance to the true centre pixel.
    """
    h, w = center.shape[-2:]
    offsets = offsets.float().cpu()
    p_c, _, peak_xy = decode_clor_torch(center.float().cpu(), offsets)
    peak_xy = peak_xy.long().numpy()
    true_xy = true_centres(gt, codec)

    def read(xy: np.ndarray) -> np.ndarray:
        index = torch.as_tensor(xy[:, 1] * w + xy[:, 0])
        return gather_offsets(offsets, index).numpy() + xy[:, None]

    neighbours = [
        read(np.clip(true_xy + [dx, dy], 0, [w - 1, h - 1]))
        for dx, dy in NEIGHBOURS
    ]
    return {
        'p_C': p_c.numpy(),
        'at the true centre': read(true_xy),
        'at a neighbour': np.stack(neighbours, axis=1),
        'centre distance': np.hypot(*(peak_xy - true_xy).T),
    }


def summarise(readings: Dict[str, np.ndarray],
              gt: np.ndarray) -> Dict[str, float]:
    """Inter-ocular NME (%) of each reading, and the centre peak's misses.

    Args:
        readings (dict): :func:`clor_readings` of ``M`` frames.
        gt (np.ndarray): ``[M, N, 2]`` annotation (the same pixels).

    Returns:
        dict: the NME of every name in :data:`READINGS`, ``'centre hit
        rate'`` (% of frames whose peak is the true centre pixel),
        ``'centre within 1'`` (% of frames whose peak is that pixel or one
        of its 8 neighbours) and ``'centre distance'`` (mean, heatmap
        pixels).
    """
    norm = norm_factors(gt, 'inter_ocular')
    near = readings['at a neighbour']
    result = {
        name: float(100 * face_nme(readings[name], gt, norm=norm).mean())
        for name in READINGS[:2]
    }
    result['at a neighbour'] = float(100 * np.mean([
        face_nme(near[:, j], gt, norm=norm).mean()
        for j in range(near.shape[1])
    ]))
    dist = readings['centre distance']
    result['centre hit rate'] = float(100 * np.mean(dist == 0))
    result['centre within 1'] = float(100 * np.mean(dist < 1.5))
    result['centre distance'] = float(np.mean(dist))
    return result


def to_input_space(points: np.ndarray, metainfo: dict) -> np.ndarray:
    """Image pixels -> model-input pixels (the inverse of the head's
    ``_to_image_space``)."""
    size = np.asarray(metainfo['input_size'], dtype=np.float64)
    scale = np.asarray(metainfo['input_scale'], dtype=np.float64)
    center = np.asarray(metainfo['input_center'], dtype=np.float64)
    return (points - center + 0.5 * scale) / scale * size


def report(result: Dict[str, float], network: str, checkpoint: str,
           frames: int) -> str:
    """One-row markdown table of :func:`summarise`."""
    header = [f'{name} NME' for name in READINGS] + [
        'centre hit rate (%)', 'centre within 1 px (%)',
        'centre distance (px)'
    ]
    cells = [f'{result[name]:.2f}' for name in READINGS] + [
        f'{result["centre hit rate"]:.1f}',
        f'{result["centre within 1"]:.1f}',
        f'{result["centre distance"]:.2f}'
    ]
    return '\n'.join([
        f'CLOR landmarks of the {network} of {checkpoint} on {frames} test '
        'frames (inter-ocular NME in %; distances in heatmap pixels).', '',
        '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header),
        '| ' + ' | '.join(cells) + ' |'
    ]) + '\n'


@torch.no_grad()
def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    allow_mmengine_checkpoints()
    from mmpose.apis import init_model
    from mmpose.registry import DATASETS
    model = init_model(args.config, args.checkpoint, device='cpu',
                       cfg_options=args.cfg_options)
    if not hasattr(model, 'networks'):
        raise ValueError(f'{args.config} is not a TSAL config (its model '
                         f'is a {type(model).__name__})')
    if args.network not in model.networks:
        raise ValueError(f'{args.config} has no {args.network} network')
    loader = model.cfg.test_dataloader
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = DATASETS.build(loader.dataset)
        collate = FUNCTIONS.get(loader.collate_fn.type)
    net = model.networks[args.network]
    head = net.head
    per_batch: List[Dict[str, np.ndarray]] = []
    truth: List[np.ndarray] = []
    for start in range(0, len(dataset), args.batch_size):
        stop = min(start + args.batch_size, len(dataset))
        data = model.data_preprocessor(
            collate([dataset[i] for i in range(start, stop)]),
            training=False)
        inputs, samples = data['inputs'], data['data_samples']
        feats = net.extract_feat(inputs)
        if net.test_cfg.get('flip_test', False):
            feats = [feats, net.extract_feat(inputs.flip(-1))]
        _, center, offsets = head.test_outputs(feats, samples, net.test_cfg)
        gt = np.stack([
            to_input_space(np.asarray(s.gt_instances.keypoints[0]),
                           s.metainfo) for s in samples
        ]) / head.decoder.scale_factor  # heatmap pixels
        per_batch.append(clor_readings(center, offsets, gt, head.decoder))
        truth.append(gt)
        print(f'[clor error] {stop}/{len(dataset)} clips', file=sys.stderr,
              flush=True)
    readings = {
        k: np.concatenate([b[k] for b in per_batch])
        for k in per_batch[0]
    }
    gt = np.concatenate(truth)
    result = summarise(readings, gt)
    print(report(result, args.network, args.checkpoint, len(gt)))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()

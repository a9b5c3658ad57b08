#!/usr/bin/env python3
"""How good are a TSAL model's pseudo-labels? Scored on hidden annotations.

On training clips of the config (its training pipeline, augmentation
included, a fixed seed), one network of a trained checkpoint predicts every
frame, and its landmark sources are compared on the UNLABELLED frames with
their annotation, which the dataset keeps out of every loss
(``gt_instances.hidden_transformed_keypoints``):

==================  ========================================================
``tracks``          phi(V, p_l): the labelled frame's landmarks carried by
                    the network's motion field (the teacher's targets, Eq. 4)
``p_M``             LHR landmarks (heatmap maxima)
``p_C``             CLOR landmarks (face centre + offsets)
``student targets`` mu * tracks + (1 - mu) * p_C (Eq. 5, the config's mu)
``p``               the fused test-time landmarks gamma * p_M + (1 - gamma)
                    * p_C
==================  ========================================================

The table gives the inter-ocular NME (%, normalised by the hidden
annotation) per frame of the clip (frame 0 is the labelled one) and over all
unlabelled frames: whether the motion field drifts, and whether the targets
that the student and the teacher learn from are better than what the network
already predicts.

Example::

    python tools/analysis/pseudo_label_quality.py \\
        configs/tsal_tiny_synthetic.py work_dirs/x/iter_300.pth --clips 48
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import FUNCTIONS, DefaultScope
from mmengine.runner import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tsal_mmpose  # noqa: E402,F401
from tsal_mmpose.evaluation.metrics import face_nme, norm_factors  # noqa: E402
from tsal_mmpose.utils import allow_mmengine_checkpoints  # noqa: E402

SOURCES = ('tracks', 'p_M', 'p_C', 'student targets', 'p')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='TSAL config (its training data)')
    parser.add_argument('checkpoint', help='TSAL checkpoint')
    parser.add_argument('--network', choices=('teacher', 'student'),
                        default='teacher')
    parser.add_argument('--clips', type=int, default=48,
                        help='training clips scored (drawn with --seed)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='JSON file for the numbers')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides, e.g. train_dataloader.'
                        'dataset.data_root=data/x/')
    return parser.parse_args(argv)


@torch.no_grad()
def clip_sources(model: torch.nn.Module, network: str,
                 batch: dict) -> Dict[str, np.ndarray]:
    """Every source's landmarks and the annotation of a batch of clips.

    Returns:
        dict: ``[B, K, N, 2]`` arrays in input-image pixels: one per source
        of :data:`SOURCES`, and ``'annotation'`` (frame 0: the labels p_l;
        frames 1..K-1: the hidden annotation).
    """
    data = model.data_preprocessor(batch, training=True)
    inputs, samples = data['inputs'], data['data_samples']
    clip_len = int(samples[0].metainfo['clip_len'])
    num_clips = len(samples) // clip_len
    net = getattr(model, network)
    outputs = net.head.forward(net.extract_feat(inputs))
    num_kpts, hm_w = outputs[0].shape[1], outputs[0].shape[-1]
    stride = inputs.shape[-1] / hm_w
    shape = (num_clips, clip_len, num_kpts, 2)
    flows = net.motion_field(
        inputs.view(num_clips, clip_len, *inputs.shape[1:]))
    # the same sources and targets as the training loss
    p_m, p_c, _ = model.clip_detections(outputs, clip_len)
    tracks, valid = model.clip_tracks(net, flows, samples, clip_len,
                                      outputs[0])
    if not bool(valid.all()):
        raise ValueError('every training clip should start with a labelled '
                         'frame; check the config\'s training dataset')
    hidden = torch.zeros(shape)
    for i, sample in enumerate(samples):
        if 'hidden_transformed_keypoints' in sample.gt_instances:
            hidden[i // clip_len, i % clip_len] = torch.as_tensor(
                sample.gt_instances.hidden_transformed_keypoints[0]) / stride
    hidden[:, 0] = tracks[:, 0]  # p_l
    points = {
        'tracks': tracks,
        'p_M': p_m,
        'p_C': p_c,
        'student targets': model.pseudo_targets('student', tracks, p_c),
        'p': net.head.decoder.fuse(p_m, p_c),
        'annotation': hidden,
    }
    return {k: v.float().cpu().numpy() * stride for k, v in points.items()}


def nme_by_frame(points: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Per-clip, per-frame inter-ocular NME (ratio) of every source."""
    gt = points['annotation']
    num_clips, clip_len = gt.shape[:2]
    flat_gt = gt.reshape(num_clips * clip_len, *gt.shape[2:])
    norm = norm_factors(flat_gt, 'inter_ocular')
    return {
        name: face_nme(points[name].reshape(flat_gt.shape), flat_gt,
                       norm=norm).reshape(num_clips, clip_len)
        for name in SOURCES
    }


def report(errors: Dict[str, np.ndarray], network: str,
           config: str) -> str:
    """Markdown table: NME (%) per frame of the clip and over frames 1..K-1.
    """
    clip_len = next(iter(errors.values())).shape[1]
    num_clips = next(iter(errors.values())).shape[0]
    header = ['source'] + [f'frame {k}' for k in range(1, clip_len)] + [
        'frames 1..K-1', 'median']
    lines = [
        f'Pseudo-label quality of the {network} ({config}, {num_clips} '
        'training clips): inter-ocular NME (%) on the unlabelled frames, '
        'against their hidden annotation.', '',
        '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)
    ]
    for name, err in errors.items():
        unlabelled = 100 * err[:, 1:]
        cells = [f'{v:.2f}' for v in np.nanmean(unlabelled, axis=0)]
        cells += [f'{np.nanmean(unlabelled):.2f}',
                  f'{np.nanmedian(unlabelled):.2f}']
        lines.append('| ' + ' | '.join([name] + cells) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    allow_mmengine_checkpoints()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from mmpose.registry import DATASETS, MODELS
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
        load_checkpoint(model, args.checkpoint, map_location='cpu',
                        logger='silent')
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        collate = FUNCTIONS.get(cfg.train_dataloader.collate_fn.type)
    if args.network == 'student' and not model.two_networks:
        raise ValueError(f'{args.config} has no student network')
    model.eval()
    picked = np.random.RandomState(args.seed).permutation(
        len(dataset))[:args.clips]
    per_batch: List[Dict[str, np.ndarray]] = []
    for start in range(0, len(picked), args.batch_size):
        batch = collate(
            [dataset[int(i)] for i in picked[start:start + args.batch_size]])
        per_batch.append(
            nme_by_frame(clip_sources(model, args.network, batch)))
        done = min(start + args.batch_size, len(picked))
        print(f'[pseudo-label quality] {done}/{len(picked)} clips',
              file=sys.stderr, flush=True)
    errors = {
        name: np.concatenate([b[name] for b in per_batch])
        for name in SOURCES
    }
    text = report(errors, args.network, args.config)
    print(text)
    result = {
        name: dict(nme_by_frame=[float(v) for v in
                                 100 * np.nanmean(err[:, 1:], axis=0)],
                   nme=float(100 * np.nanmean(err[:, 1:])))
        for name, err in errors.items()
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()

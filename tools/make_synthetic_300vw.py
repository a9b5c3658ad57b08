#!/usr/bin/env python3
"""Generate a synthetic 300VW-like benchmark from real annotated faces.

Real faces (300W, WFLW mapped to 68 points, 300VW frames) are warped
piecewise-affinely onto animated landmark shapes (head motion, expressions,
blinks), composited on procedural scenes with lighting changes, blur, noise
and moving occluders, and written in the official raw 300VW layout, every
frame annotated. Training and test videos come from disjoint source
identities; test videos are split into an 'easy' and a 'hard' category.

Layout under ``--out`` (default ``data/synthetic_300vw``)::

    raw/NNN/vid.avi, raw/NNN/annot/000001.pts   # 1-based frames and coords
    raw/manifest.json                          # settings + per-video spec
    annotations/categories.json                # video id -> easy | hard
    broken_frames.npy                          # empty list (pickled dict)
    # with --convert:
    images/NNN/imgs/000001.jpg
    annotations/train.json, test.json, test_easy.json, test_hard.json
    # with --train-stills / --test-stills: labelled image sets (300W style)
    stills/{train,test}/000001.jpg
    annotations/stills_train.json, stills_test.json

The JSON files have the structure of mmpose's 300VW JSON (0-based
coordinates); the layout is that of configs/_base_/datasets/
face_300vw_clip.py with ``data_root='data/synthetic_300vw/'`` and
``categories`` read from ``annotations/categories.json``. The stills are
single frames of the training identities (``stills_train``) and of the test
identities (``stills_test``), each with its own pose and scene, in the
structure of mmpose's 300W JSON (read with ``Face300WDataset``,
``data_prefix=dict(img='stills/')``): the labelled images of mixed image and
video training (configs/tsal_tiny_synthetic_mixed.py).

Examples::

    # default benchmark: 40 videos x 500 frames = 20,000 frames
    python tools/make_synthetic_300vw.py --workers 2 --convert
    # with 120 training and 60 test stills
    python tools/make_synthetic_300vw.py --workers 2 --convert \\
        --train-stills 120 --test-stills 60
    # a quick look
    python tools/make_synthetic_300vw.py --out /tmp/syn --train-videos 2 \\
        --test-easy-videos 1 --test-hard-videos 1 --frames 50 --convert
    python tools/contact_sheet.py /tmp/syn/raw --out /tmp/syn/sheet.png

Runs are resumable: videos whose ``.done`` marker matches the settings are
kept (``--overwrite`` regenerates them). The rendering speed (frames/s) is
printed at the end.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tsal_mmpose.datasets.synthetic.generator import (DEFAULT_ROOT,
                                                      GeneratorConfig,
                                                      generate_benchmark)
from tsal_mmpose.datasets.synthetic.sources import (TEST_IDENTITIES,
                                                    TRAIN_IDENTITIES)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    d = GeneratorConfig()
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', type=Path, default=Path(DEFAULT_ROOT),
                        help=f'output root (default {DEFAULT_ROOT})')
    parser.add_argument('--faces-dir', type=Path, default=None,
                        help='folder of the real source faces (default '
                        '$TSAL_FACES_DIR, else the faces shipped with the '
                        'package)')
    parser.add_argument('--seed', type=int, default=d.seed)
    parser.add_argument('--train-videos', type=int, default=d.train_videos)
    parser.add_argument('--test-easy-videos', type=int,
                        default=d.test_easy_videos)
    parser.add_argument('--test-hard-videos', type=int,
                        default=d.test_hard_videos)
    parser.add_argument('--frames', type=int, default=d.frames,
                        help='frames per video')
    parser.add_argument('--width', type=int, default=d.width)
    parser.add_argument('--height', type=int, default=d.height)
    parser.add_argument('--fps', type=float, default=d.fps)
    parser.add_argument('--codec', choices=('mjpg', 'ffv1'), default=d.codec,
                        help='mjpg (default) or ffv1 (lossless)')
    parser.add_argument('--quality', type=int, default=d.quality,
                        help='MJPEG quality')
    parser.add_argument('--train-hard-fraction', type=float,
                        default=d.train_hard_fraction)
    parser.add_argument('--morph-prob', type=float, default=d.morph_prob)
    parser.add_argument('--train-sources', nargs='+',
                        default=list(TRAIN_IDENTITIES),
                        help='source identities of the training videos')
    parser.add_argument('--test-sources', nargs='+',
                        default=list(TEST_IDENTITIES),
                        help='source identities of the test videos')
    parser.add_argument('--train-stills', type=int, default=d.train_stills,
                        help='labelled stills of the training identities '
                        f'(default {d.train_stills})')
    parser.add_argument('--test-stills', type=int, default=d.test_stills,
                        help='labelled stills of the test identities '
                        f'(default {d.test_stills})')
    parser.add_argument('--motion-speed', type=float, default=d.motion_speed,
                        help='time scale of head motion and expressions '
                        f'(default {d.motion_speed}; 3 plays them three '
                        'times as fast)')
    parser.add_argument('--workers', type=int, default=1,
                        help='parallel processes (one video each)')
    parser.add_argument('--convert', action='store_true',
                        help='also extract frames and write the JSON files')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate videos already marked done')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate; returns the exit status."""
    args = parse_args(argv)
    config = GeneratorConfig(
        seed=args.seed, train_videos=args.train_videos,
        test_easy_videos=args.test_easy_videos,
        test_hard_videos=args.test_hard_videos, frames=args.frames,
        width=args.width, height=args.height, fps=args.fps,
        codec=args.codec, quality=args.quality,
        train_hard_fraction=args.train_hard_fraction,
        morph_prob=args.morph_prob,
        train_identities=tuple(args.train_sources),
        test_identities=tuple(args.test_sources),
        train_stills=args.train_stills, test_stills=args.test_stills,
        motion_speed=args.motion_speed)
    generate_benchmark(args.out, config, faces_dir=args.faces_dir,
                       workers=args.workers, convert=args.convert,
                       overwrite=args.overwrite,
                       progress=not args.no_progress)
    return 0


if __name__ == '__main__':
    sys.exit(main())

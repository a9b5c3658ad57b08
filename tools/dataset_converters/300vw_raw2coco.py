#!/usr/bin/env python3
"""Convert the raw 300VW release (``NNN/vid.avi`` + ``NNN/annot/*.pts``).

Writes ``OUT_ROOT/NNN/imgs/000001.jpg`` (frame k of ``vid.avi`` is
``00000k.jpg`` and is labelled by ``annot/00000k.pts``) and one COCO-style
JSON in the structure of mmpose's ``300vw2coco.py``. Coordinates are written
0-based (one subtracted from the .pts values) unless ``--pts-origin 0``,
which keeps the values unchanged as mmpose's own converter does.

Examples::

    # every video of the release, 0-based JSON, 8 processes
    python tools/dataset_converters/300vw_raw2coco.py data/300vw_raw \\
        data/300vw/images --json data/300vw/annotations/all.json \\
        --broken-frames data/300vw/broken_frames.npy --workers 8

    # the official splits, in the layout of configs/_base_/datasets
    for split in train test; do
      python tools/dataset_converters/300vw_raw2coco.py data/300vw_raw \\
          data/300vw/images --split $split \\
          --json data/300vw/annotations/$split.json \\
          --broken-frames data/300vw/broken_frames.npy --workers 2
    done

    # chosen videos only
    python tools/dataset_converters/300vw_raw2coco.py data/300vw_raw \\
        data/300vw/images --json /tmp/two.json --videos 001 401

A second run skips the videos already converted with the same options
(``NNN/.done``); ``--overwrite`` redoes them. Every problem is listed by
file name at the end; any error makes the run fail (exit status 1, no JSON)
unless ``--skip-invalid``, which leaves the invalid frames out and logs them.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tsal_mmpose.datasets.converters.raw_300vw import (ConversionError,
                                                       ConvertOptions,
                                                       convert_300vw_raw,
                                                       format_problems,
                                                       load_broken_frames,
                                                       official_split)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('raw_root', type=Path,
                        help='folder of NNN/vid.avi and NNN/annot/*.pts')
    parser.add_argument('out_root', type=Path,
                        help='folder receiving NNN/imgs/*.jpg')
    parser.add_argument('--json', type=Path, default=None,
                        help='JSON to write (default: '
                        'OUT_ROOT/annotations_<split>.json)')
    videos = parser.add_mutually_exclusive_group()
    videos.add_argument('--split', default='all',
                        choices=('all', 'train', 'test', 'test_a', 'test_b',
                                 'test_c'),
                        help='official 300VW split (default: every video '
                        'folder; train = every non-test video)')
    videos.add_argument('--videos', nargs='+', default=None,
                        help='video ids, in JSON order')
    videos.add_argument('--videos-file', type=Path, default=None,
                        help='text file with one video id per line')
    parser.add_argument('--pts-origin', type=int, choices=(0, 1), default=1,
                        help='1 (default): .pts are 1-based, write pts - 1; '
                        '0: write the values unchanged (as mmpose does)')
    parser.add_argument('--broken-frames', type=Path, default=None,
                        help='.npy (pickled dict, as mmpose ships) or .json '
                        'mapping video id -> frame numbers left out')
    parser.add_argument('--img-ext', choices=('jpg', 'png'), default='jpg')
    parser.add_argument('--jpeg-quality', type=int, default=95)
    parser.add_argument('--workers', type=int, default=1,
                        help='parallel processes (one video each)')
    parser.add_argument('--skip-invalid', action='store_true',
                        help='leave invalid frames out with a warning '
                        'instead of failing')
    parser.add_argument('--overwrite', action='store_true',
                        help='convert again videos already marked done')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
    videos = args.videos
    if args.videos_file is not None:
        videos = [line.strip() for line in
                  args.videos_file.read_text().splitlines() if line.strip()]
    name = 'custom' if videos is not None else args.split
    if videos is None and args.split != 'all':
        videos = official_split(args.raw_root, args.split)
    json_path = args.json or (args.out_root / f'annotations_{name}.json')
    options = ConvertOptions(
        pts_origin=args.pts_origin, img_ext=args.img_ext,
        jpeg_quality=args.jpeg_quality,
        broken_frames=load_broken_frames(args.broken_frames),
        skip_invalid=args.skip_invalid, overwrite=args.overwrite)
    try:
        result = convert_300vw_raw(args.raw_root, args.out_root, json_path,
                                   videos=videos, options=options,
                                   workers=args.workers,
                                   progress=not args.no_progress)
    except ConversionError as exc:
        print('Problems found:\n' + format_problems(exc.problems),
              file=sys.stderr)
        print('conversion failed: no JSON written (fix the files above or '
              'pass --skip-invalid)', file=sys.stderr)
        return 1
    print('Problems found:\n' + format_problems(result['problems']))
    n_frames = sum(result['frames_per_video'].values())
    print(f'{json_path}: {n_frames} frames from '
          f'{len(result["frames_per_video"])} videos '
          f'({len(result["resumed"])} resumed from a previous run)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

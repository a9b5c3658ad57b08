#!/usr/bin/env python3
"""Write a PNG grid of video frames with their 68 landmarks drawn.

SOURCE is either a raw 300VW folder (``NNN/vid.avi`` + ``NNN/annot``) or
a COCO-style 300VW JSON (then ``--img-root`` is the folder its
``file_name`` entries are relative to; default: ``<json dir>/../images``).

Examples::

    python tools/contact_sheet.py data/synthetic_300vw/raw \\
        --out sheet.png --per-video 4 --max-videos 8
    python tools/contact_sheet.py data/synthetic_300vw/annotations/test.json \\
        --out sheet_crop.png --crop
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from tsal_mmpose.datasets.synthetic.contact_sheet import (frames_from_json,
                                                          frames_from_raw,
                                                          make_contact_sheet)


def main(argv: list[str] | None = None) -> int:
    """Write the sheet; returns the exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', type=Path,
                        help='raw 300VW folder or converted JSON')
    parser.add_argument('--out', type=Path, default=Path('contact_sheet.png'))
    parser.add_argument('--img-root', type=Path, default=None)
    parser.add_argument('--videos', nargs='+', default=None)
    parser.add_argument('--per-video', type=int, default=4)
    parser.add_argument('--max-videos', type=int, default=8)
    parser.add_argument('--columns', type=int, default=4)
    parser.add_argument('--tile-height', type=int, default=240)
    parser.add_argument('--crop', action='store_true',
                        help='crop every tile around the face')
    parser.add_argument('--no-landmarks', action='store_true')
    parser.add_argument('--pts-origin', type=int, choices=(0, 1), default=1,
                        help='origin of the raw .pts coordinates')
    args = parser.parse_args(argv)
    if args.source.suffix == '.json':
        img_root = args.img_root or args.source.parent.parent / 'images'
        items = frames_from_json(args.source, img_root, args.videos,
                                 args.per_video, args.max_videos)
    else:
        items = frames_from_raw(args.source, args.videos, args.per_video,
                                args.max_videos, args.pts_origin)
    sheet = make_contact_sheet(items, args.columns, args.tile_height,
                               crop=args.crop, draw=not args.no_landmarks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), sheet):
        print(f'{args.out}: cannot write', file=sys.stderr)
        return 1
    print(f'{args.out}: {len(items)} frames, {sheet.shape[1]}x'
          f'{sheet.shape[0]} px')
    return 0


if __name__ == '__main__':
    sys.exit(main())

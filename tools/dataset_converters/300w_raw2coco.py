#!/usr/bin/env python3
"""Convert raw 300W-style ``image + .pts`` pairs to mmpose's 300W JSON.

Example::

    python tools/dataset_converters/300w_raw2coco.py data/300w_raw/01_Indoor \\
        data/300w/annotations/indoor.json

``file_name`` is relative to the given root; coordinates are written
0-based (``--pts-origin 0`` keeps the .pts values).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tsal_mmpose.datasets.converters.raw_300w import convert_300w_raw


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', type=Path)
    parser.add_argument('json', type=Path)
    parser.add_argument('--pts-origin', type=int, choices=(0, 1), default=1)
    parser.add_argument('--skip-invalid', action='store_true')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')
    try:
        data = convert_300w_raw(args.root, args.json, args.pts_origin,
                                skip_invalid=args.skip_invalid)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f'{args.json}: {len(data["images"])} faces')
    return 0


if __name__ == '__main__':
    sys.exit(main())

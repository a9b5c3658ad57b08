"""Converters from raw face-landmark releases to mmpose's COCO-style JSON."""
from .coco_face import vw_annotation, w300_annotation
from .parallel import map_unordered, opencv_fork_pool
from .pts_io import PtsError, read_pts, read_pts_decimal, write_pts
from .raw_300vw import (TEST_CATEGORIES_300VW, ConversionError, ConvertOptions,
                        Problem, convert_300vw_raw, format_problems,
                        list_videos, load_broken_frames, official_split)
from .raw_300w import convert_300w_raw

__all__ = [
    'PtsError', 'read_pts', 'read_pts_decimal', 'write_pts',
    'vw_annotation', 'w300_annotation', 'ConversionError', 'ConvertOptions',
    'Problem', 'convert_300vw_raw', 'format_problems', 'list_videos',
    'load_broken_frames', 'convert_300w_raw', 'TEST_CATEGORIES_300VW',
    'official_split', 'opencv_fork_pool', 'map_unordered'
]

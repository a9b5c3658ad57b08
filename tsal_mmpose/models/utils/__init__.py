"""Tensor utilities shared by the TSAL heads, necks and estimators."""
from .flow_ops import pixel_to_grid, sample_points, track_points, warp_image
from .keypoint_decoding import (decode_clor_torch, decode_heatmap_torch,
                                flip_clor_maps, gather_offsets)

__all__ = [
    'pixel_to_grid', 'sample_points', 'track_points', 'warp_image',
    'decode_heatmap_torch', 'decode_clor_torch', 'gather_offsets',
    'flip_clor_maps'
]

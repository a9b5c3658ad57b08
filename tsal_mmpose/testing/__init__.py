"""Synthetic inputs for tests and benchmarks (like ``mmpose.testing``)."""
from .synthetic_clips import face_template, moving_texture_clips, pack_clips

__all__ = ['face_template', 'moving_texture_clips', 'pack_clips']

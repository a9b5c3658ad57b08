"""Inference on images and videos with TSAL models.

Importing this package loads only OpenCV and numpy besides
:mod:`tsal_mmpose`; torch, mmengine and mmpose's inference API are imported
when a function needs them.
"""
from .video_inference import (BOX_SOURCES, FaceDetector, LandmarkDrawer,
                              face_lost, infer_video, landmark_box,
                              predict_frames)

__all__ = [
    'BOX_SOURCES', 'FaceDetector', 'LandmarkDrawer', 'face_lost',
    'infer_video', 'landmark_box', 'predict_frames'
]

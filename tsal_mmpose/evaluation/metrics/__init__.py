from .face_landmark_metric import (NORM_MODES, FaceLandmarkMetric, ced_auc,
                                   ced_curve, default_norm_indices, face_nme,
                                   failure_rate, norm_factors,
                                   normalized_mean_flicker, pair_flicker,
                                   save_ced)

__all__ = [
    'FaceLandmarkMetric', 'NORM_MODES', 'default_norm_indices',
    'norm_factors', 'face_nme', 'ced_curve', 'ced_auc', 'failure_rate',
    'save_ced', 'pair_flicker', 'normalized_mean_flicker'
]

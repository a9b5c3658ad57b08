from .tsal_label import (TSALLabel, centernet_gaussian_radius,
                         landmark_gaussian_heatmaps)

__all__ = ['TSALLabel', 'centernet_gaussian_radius',
           'landmark_gaussian_heatmaps']

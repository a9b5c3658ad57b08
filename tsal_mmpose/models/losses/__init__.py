from .center_focal_loss import CenterFocalLoss, center_focal_loss
from .flow_loss import (MotionFieldLoss, charbonnier, edge_aware_smoothness,
                        forward_backward_occlusion, motion_field_loss,
                        out_of_frame_mask, photometric_loss)
from .mfds_loss import MFDSLoss, mfds_loss
from .pseudo_heatmap_loss import (PseudoHeatmapLoss, pseudo_heatmap_loss,
                                  render_gaussian_heatmaps,
                                  student_pseudo_targets)
from .sic_loss import SICLoss, face_box_width, sic_loss
from .unsup_weight import unsup_weight

__all__ = [
    'CenterFocalLoss', 'center_focal_loss', 'MotionFieldLoss', 'charbonnier',
    'edge_aware_smoothness', 'forward_backward_occlusion',
    'motion_field_loss', 'out_of_frame_mask', 'photometric_loss', 'MFDSLoss',
    'mfds_loss', 'PseudoHeatmapLoss', 'pseudo_heatmap_loss',
    'render_gaussian_heatmaps', 'student_pseudo_targets', 'SICLoss',
    'face_box_width', 'sic_loss', 'unsup_weight'
]

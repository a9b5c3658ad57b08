"""One TSAL network: a top-down landmark detector and a motion-field module."""
from typing import Optional

from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptMultiConfig

__all__ = ['TSALNetwork']


@MODELS.register_module()
class TSALNetwork(TopdownPoseEstimator):
    """The network that the TSAL teacher and student each are (Sec. 3.2).

    An mmpose :class:`TopdownPoseEstimator` (backbone, optional neck, and a
    :class:`TSALHead` predicting landmark heatmaps H, the face-centre heatmap
    C and the centre-to-landmark offsets O) with a motion-field estimation
    module (:class:`MotionFieldNeck`) that predicts the optical flow V
    between consecutive frames of a clip. On its own it is a complete
    top-down model: ``predict`` is mmpose's, so a TSAL network (or a trained
    teacher) runs wherever a ``TopdownPoseEstimator`` does.

    Args:
        backbone (dict): Backbone config.
        head (dict): Head config (a ``TSALHead``).
        motion_field (dict, optional): Motion-field module config. ``None``
            builds a detector without one (single-image training).
        neck (dict, optional): Neck config between backbone and head.
        train_cfg (dict, optional): Training config.
        test_cfg (dict, optional): Testing config (flip test etc.).
        data_preprocessor (dict, optional): Used only when the network runs
            on its own; inside :class:`TSALEstimator` the estimator's
            preprocessor is used.
        init_cfg (dict, optional): Initialisation config.
        metainfo (dict, optional): Dataset meta information.
    """

    def __init__(self,
                 backbone: ConfigType,
                 head: ConfigType,
                 motion_field: OptConfigType = None,
                 neck: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 metainfo: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            metainfo=metainfo)
        if motion_field is not None:
            self.motion_field = MODELS.build(motion_field)

    @property
    def with_motion_field(self) -> bool:
        """bool: whether the network has a motion-field module."""
        return getattr(self, 'motion_field', None) is not None

from .motion_field_neck import MotionFieldNeck, track_points, warp_image

__all__ = ['MotionFieldNeck', 'track_points', 'warp_image']

from .clip_apply import ClipApply
from .image_to_clip import ImageToClip
from .pack_clip_inputs import PackClipInputs

__all__ = ['ClipApply', 'ImageToClip', 'PackClipInputs']

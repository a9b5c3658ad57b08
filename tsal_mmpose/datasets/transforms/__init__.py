from .clip_apply import ClipApply
from .pack_clip_inputs import PackClipInputs

__all__ = ['ClipApply', 'PackClipInputs']

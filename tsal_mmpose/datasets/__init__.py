from .clip_collate import clip_collate
from .face_300vw_clip_dataset import Face300VWClipDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['Face300VWClipDataset', 'clip_collate']

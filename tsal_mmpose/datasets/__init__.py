from .clip_collate import clip_collate
from .combined_clip_dataset import CombinedClipDataset
from .exact_multi_source_sampler import ExactMultiSourceSampler
from .face_300vw_clip_dataset import Face300VWClipDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'CombinedClipDataset', 'ExactMultiSourceSampler', 'Face300VWClipDataset',
    'clip_collate'
]

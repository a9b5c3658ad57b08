"""Apply ordinary mmpose transforms to every frame of a clip, consistently.

The flow between the frames of a clip (and every loss built on it, Eq. 1-5)
is only meaningful when all frames receive the same geometric augmentation:
one flip, one bbox shift / scale / rotation and one colour jitter per clip.
"""
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_random_params
from mmpose.registry import TRANSFORMS

__all__ = ['ClipApply']

_FRAME_SELECTIONS = ('all', 'labelled')


@TRANSFORMS.register_module()
class ClipApply(BaseTransform):
    """Run a list of per-image transforms on each frame of a clip.

    The wrapped transforms run on every frame dict of ``results['frames']``
    (as produced by :class:`Face300VWClipDataset`) inside mmcv's
    :func:`cache_random_params`: a random parameter drawn by a method
    decorated with ``@cache_randomness`` is drawn once, on the first frame,
    and reused for the other frames of the clip. The mmpose transforms used
    for faces draw all their randomness in such methods:
    ``RandomFlip._choose_direction``, ``RandomBBoxTransform.
    _get_transform_params`` (shift, scale, rotation),
    ``PhotometricDistortion._random_flags`` (brightness, contrast,
    saturation, hue, channel swap); ``LoadImage``, ``GetBBoxCenterScale``,
    ``TopdownAffine`` and ``GenerateTarget`` are deterministic. A transform
    with uncached randomness (marked ``@avoid_cache_randomness`` by mmcv,
    e.g. ``Albumentation``) makes mmcv raise an error here instead of
    silently augmenting the frames differently. Transforms that derive the
    crop from a frame's own keypoints (``RandomHalfBody``) do not belong in
    a clip pipeline: they would crop each frame with its own annotation.

    Since all frames of a training clip carry the same crop box (the
    labelled frame's, set by the dataset) and come from one video (same
    image size), the same flip and bbox transform yield the same affine
    matrix for every frame.

    A results dict without ``frames`` (a single image, as
    ``mmpose.apis.inference_topdown`` builds it) is treated as a clip of
    one frame, so a clip test pipeline also serves single-image inference.

    Args:
        transforms (list[dict | callable]): mmpose transforms (configs are
            built from mmpose's ``TRANSFORMS`` registry).
        frames (str): ``'all'`` (default) or ``'labelled'``: run only on
            frames with ``labelled=True``, e.g. ``GenerateTarget``, so that
            no target is ever encoded for an unlabelled frame.

    Returns:
        The clip dict with every (selected) frame transformed in place of
        the input one, or ``None`` if a transform rejects a frame.
    """

    def __init__(self,
                 transforms: Sequence[Union[dict, Callable]],
                 frames: str = 'all') -> None:
        if frames not in _FRAME_SELECTIONS:
            raise ValueError(f'frames must be one of {_FRAME_SELECTIONS}, '
                             f'got {frames!r}')
        if isinstance(transforms, (dict, )) or callable(transforms):
            transforms = [transforms]
        built: List[Callable] = []
        for transform in transforms:
            if isinstance(transform, dict):
                transform = TRANSFORMS.build(transform)
            if not callable(transform):
                raise TypeError(
                    f'transform must be callable or a dict, got {transform}')
            built.append(transform)
        self.transforms = Compose(built)
        self.frames = frames

    def transform(self, results: Dict) -> Optional[Dict]:
        """Transform the frames of one clip with shared random parameters.

        Args:
            results (dict): A clip with ``frames`` (list of K frame dicts),
                or one frame dict (a clip of one frame).

        Returns:
            dict | None: The clip with transformed frames (the transformed
            frame for a single frame), or None when a transform returned
            None for a frame.
        """
        if 'frames' not in results:
            clip = self.transform(dict(frames=[results]))
            return None if clip is None else clip['frames'][0]
        frames = list(results['frames'])
        with cache_random_params(self.transforms):
            for index, frame in enumerate(frames):
                if self.frames == 'labelled' and not frame.get(
                        'labelled', False):
                    continue
                out = self.transforms(frame)
                if out is None:
                    return None
                frames[index] = out
        results['frames'] = frames
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(frames={self.frames!r}, '
                f'transforms={self.transforms!r})')

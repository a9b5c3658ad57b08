"""A labelled face image as a clip of one labelled frame."""
from typing import Dict, Optional

from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

__all__ = ['ImageToClip']


@TRANSFORMS.register_module()
class ImageToClip(BaseTransform):
    """Turn one top-down image item into a clip of one labelled frame.

    Mixed image and video training (:class:`CombinedClipDataset`) puts
    labelled images (e.g. 300W) and sparsely labelled clips
    (:class:`Face300VWClipDataset`) in one batch. With this transform at the
    end of an image source's own pipeline, an image item has the layout of
    a clip item: ``frames`` (one frame dict) and ``clip_len`` 1, its frame
    marked ``labelled`` and evaluated, so that both sources share one
    pipeline (:class:`ClipApply`, :class:`PackClipInputs`), one collate
    (``clip_collate``: ``inputs`` [1, 3, H, W] beside the clips' [K, 3, H,
    W]) and one data preprocessor. :class:`TSALEstimator` reads the frames'
    ``clip_len`` and gives a clip of one frame the supervised terms only.

    Args:
        category (str, optional): The ``category`` metainfo of the frame,
            under which :class:`FaceLandmarkMetric` also reports it (e.g.
            ``'common'`` / ``'challenge'`` for the 300W subsets). ``None``
            (default) keeps the item's own ``category``, if any.

    Returns:
        dict: ``frames`` (a list holding the image item with ``clip_len``
        1, ``frame_index`` 0, ``labelled``, ``evaluate`` and ``gt_hidden``
        set), ``clip_len`` (1), ``category`` and ``sample_idx``.
    """

    def __init__(self, category: Optional[str] = None) -> None:
        if category is not None and not isinstance(category, str):
            raise TypeError(f'category must be a str or None, got '
                            f'{type(category).__name__}')
        self.category = category

    def transform(self, results: Dict) -> Dict:
        """Wrap an image item into a one-frame clip.

        Args:
            results (dict): A top-down data info of one face image.

        Returns:
            dict: The one-frame clip.
        """
        if 'frames' in results:
            raise ValueError(
                'ImageToClip got a clip (an item with "frames"); it belongs '
                'in the pipeline of an image source only')
        frame = dict(results)
        category = (self.category if self.category is not None else
                    frame.get('category', None))
        frame.update(
            clip_len=1,
            frame_index=0,
            labelled=True,
            evaluate=True,
            gt_hidden=False,
            category=category)
        return dict(
            frames=[frame],
            clip_len=1,
            category=category,
            sample_idx=results.get('sample_idx', None))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(category={self.category!r})'

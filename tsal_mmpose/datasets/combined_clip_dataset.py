"""mmpose's CombinedDataset for sources whose items are clips or images.

Mixed training puts labelled face images (300W-style) and sparsely labelled
video clips (:class:`Face300VWClipDataset`) into every batch, at a fixed
ratio (:class:`ExactMultiSourceSampler`). mmpose's ``CombinedDataset``
serves as it is for the sampling, the per-source pipelines and the shared
one; this subclass adds what it lacks for clips and for faces (see
docs/design/mixed_training.md for the measurements):

* the combined metainfo keys that ``CombinedDataset`` writes into an item
  (``flip_indices``, ``flip_pairs``, ...) are also written into every frame
  of a clip item, where the clip transforms read them;
* the sources are checked at construction: one landmark set (a source of
  another set needs mmpose's ``KeypointConverter`` in its own pipeline),
  the same flip pairs, and the same input size of their pipelines. A
  mismatch is an error naming the sources and the difference, instead of a
  shape error deep in a loss or, worse, wrong flips.
"""
from copy import deepcopy
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

from mmpose.datasets import CombinedDataset
from mmpose.datasets.transforms import (GenerateTarget, KeypointConverter,
                                        TopdownAffine)
from mmpose.registry import DATASETS

__all__ = ['CombinedClipDataset', 'iter_transforms']

# the metainfo keys CombinedDataset.get_data_info writes into an item
_SHARED_KEYS = ('upper_body_ids', 'lower_body_ids', 'flip_pairs',
                'dataset_keypoint_weights', 'flip_indices')


def iter_transforms(pipeline: Any) -> Iterator[Any]:
    """Every transform of a (built) pipeline, nested ones included.

    Descends into anything holding ``transforms`` (mmcv's ``Compose``,
    :class:`ClipApply`, ``RandomChoice``, ...).

    Args:
        pipeline: A ``Compose``, a transform or a list of them.

    Yields:
        The transforms, depth first, in pipeline order.
    """
    if isinstance(pipeline, (list, tuple)):
        for item in pipeline:
            yield from iter_transforms(item)
        return
    inner = getattr(pipeline, 'transforms', None)
    if isinstance(inner, (list, tuple)) or hasattr(inner, 'transforms'):
        yield pipeline
        yield from iter_transforms(inner)
        return
    yield pipeline


@DATASETS.register_module()
class CombinedClipDataset(CombinedDataset):
    """``CombinedDataset`` of clip and image sources with one landmark set.

    Items are drawn as by mmpose's ``CombinedDataset``: the source's own
    pipeline runs first, then the combined metainfo keys are written into
    the item (and, for a clip item, into each of its frames), then the
    shared ``pipeline``. An image source usually ends its own pipeline with
    :class:`ImageToClip`, so that all items are clips (an image is a clip
    of one labelled frame) and share the clip pipeline.

    Checked at construction, each mismatch an error naming the sources:

    * **Landmark set.** Every source gives ``num_keypoints`` of the
      combined ``metainfo``: its own, or the ``num_keypoints`` of the last
      ``KeypointConverter`` in its pipeline (mmpose's way of mapping one
      landmark set onto another; unmapped landmarks come out invisible).
    * **Flip pairs.** A source's flip pairs, mapped through its converter
      if it has one, are those of the combined metainfo (landmark ``i``
      flips to the same landmark).
    * **Input size.** The ``TopdownAffine`` and ``GenerateTarget`` codec
      input sizes of a source's pipeline and of the shared one agree.

    Args:
        metainfo (dict): The combined meta information (e.g.
            ``dict(from_file='configs/_base_/datasets/300w.py')``).
        datasets (list[dict]): Configs of the sources.
        pipeline (list): The shared pipeline. Defaults to [].
        sample_ratio_factor (list[float], optional): As in
            ``CombinedDataset``.
        **kwargs: Passed to ``CombinedDataset``.
    """

    def __init__(self,
                 metainfo: dict,
                 datasets: list,
                 pipeline: List[Union[dict, Callable]] = [],
                 sample_ratio_factor: Optional[List[float]] = None,
                 **kwargs) -> None:
        if not datasets:
            raise ValueError('CombinedClipDataset needs at least one source')
        super().__init__(
            metainfo=metainfo,
            datasets=datasets,
            pipeline=pipeline,
            sample_ratio_factor=sample_ratio_factor,
            **kwargs)
        self.check_sources()

    # ------------------------------------------------------------------
    def source_name(self, index: int) -> str:
        """``'source <i> (<class>, <annotation file>)'`` for messages."""
        dataset = self.datasets[index]
        ann_file = getattr(dataset, 'ann_file', '') or '-'
        return f'source {index} ({type(dataset).__name__}, {ann_file})'

    def _converter(self, index: int) -> Optional[KeypointConverter]:
        """The last KeypointConverter of a source's own pipeline."""
        found = [
            t for t in iter_transforms(self.datasets[index].pipeline)
            if isinstance(t, KeypointConverter)
        ]
        return found[-1] if found else None

    def source_keypoints(self, index: int) -> int:
        """The number of landmarks a source's items carry."""
        converter = self._converter(index)
        if converter is not None:
            return int(converter.num_keypoints)
        return int(self.datasets[index].metainfo['num_keypoints'])

    def source_flip_indices(self, index: int) -> List[Optional[int]]:
        """Each landmark's flip partner in the combined landmark set.

        Through a converter, a target landmark mapped from one source
        landmark flips to the target of that landmark's partner; targets
        not mapped (or interpolated from two landmarks) are ``None``: they
        carry no label and are not checked.
        """
        flip = list(self.datasets[index].metainfo['flip_indices'])
        converter = self._converter(index)
        if converter is None:
            return flip
        if getattr(converter, 'interpolation', False):
            source_index = [
                a if a == b else None for a, b in zip(
                    converter.source_index, converter.source_index2)
            ]
        else:
            source_index = list(converter.source_index)
        target_of = {
            s: t
            for s, t in zip(source_index, converter.target_index)
            if s is not None
        }
        out: List[Optional[int]] = [None] * int(converter.num_keypoints)
        for src, tgt in target_of.items():
            partner = flip[src] if src < len(flip) else None
            out[tgt] = target_of.get(partner)
        return out

    def _input_sizes(self, pipeline: Any) -> List[Tuple[str, tuple]]:
        sizes = []
        for transform in iter_transforms(pipeline):
            if isinstance(transform, TopdownAffine):
                sizes.append(('TopdownAffine',
                              tuple(int(v) for v in transform.input_size)))
            elif isinstance(transform, GenerateTarget):
                encoders = transform.encoder if isinstance(
                    transform.encoder, list) else [transform.encoder]
                for encoder in encoders:
                    size = getattr(encoder, 'input_size', None)
                    if size is not None:
                        sizes.append((f'{type(encoder).__name__} codec',
                                      tuple(int(v) for v in size)))
        return sizes

    def check_sources(self) -> None:
        """Refuse sources of another landmark set, other flip pairs or
        another input size (see the class docstring).

        Raises:
            ValueError: naming the sources and the difference.
        """
        self._check_keypoints()
        self._check_flip_pairs()
        self._check_input_sizes()

    def _check_keypoints(self) -> None:
        counts = [self.source_keypoints(i) for i in range(len(self.datasets))]
        for i, count in enumerate(counts[1:], 1):
            if count != counts[0]:
                small, large = sorted((0, i), key=lambda j: counts[j])
                raise ValueError(
                    'CombinedClipDataset: the sources have different '
                    f'landmark sets: {self.source_name(0)} gives '
                    f'{counts[0]} landmarks, {self.source_name(i)} gives '
                    f'{count}. Map one onto the other with mmpose\'s '
                    'KeypointConverter in its own pipeline, e.g. '
                    f'dict(type=\'KeypointConverter\', num_keypoints='
                    f'{counts[large]}, mapping=[(i, j), ...]) in the '
                    f'pipeline of source {small}')
        expected = int(self._metainfo['num_keypoints'])
        if counts[0] != expected:
            raise ValueError(
                f'CombinedClipDataset: the sources give {counts[0]} '
                f'landmarks, the combined metainfo '
                f'({self._metainfo.get("dataset_name")}) has {expected}')

    def _check_flip_pairs(self) -> None:
        combined = list(self._metainfo['flip_indices'])
        name = self._metainfo.get('dataset_name')
        for i in range(len(self.datasets)):
            flips = self.source_flip_indices(i)
            wrong = [(k, f, combined[k]) for k, f in enumerate(flips)
                     if f is not None and f != combined[k]]
            if wrong:
                k, theirs, ours = wrong[0]
                raise ValueError(
                    'CombinedClipDataset: the flip pairs differ: '
                    f'{self.source_name(i)} flips landmark {k} to {theirs}, '
                    f'the combined metainfo ({name}) to {ours} ({len(wrong)}'
                    ' landmark(s) differ); give the source the combined '
                    'landmark order (a KeypointConverter mapping)')

    def _check_input_sizes(self) -> None:
        shared = self._input_sizes(self.pipeline)
        found = {}
        for i, dataset in enumerate(self.datasets):
            sizes = self._input_sizes(dataset.pipeline) + shared
            distinct = sorted({size for _, size in sizes})
            if len(distinct) > 1:
                raise ValueError(
                    'CombinedClipDataset: the pipelines of '
                    f'{self.source_name(i)} (its own and the shared one) '
                    'use different input sizes: ' + ', '.join(
                        f'{what} {size}' for what, size in sizes))
            if distinct:
                found[i] = distinct[0]
        if len(set(found.values())) > 1:
            first = next(iter(found))
            other = next(i for i in found if found[i] != found[first])
            raise ValueError(
                'CombinedClipDataset: the sources\' pipelines use different '
                f'input sizes: {self.source_name(first)} {found[first]}, '
                f'{self.source_name(other)} {found[other]}')

    # ------------------------------------------------------------------
    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th item after its source's pipeline, with the
        combined metainfo keys in it and, for a clip, in every frame.

        Args:
            idx (int): Global index.

        Returns:
            dict: The item (a clip has ``frames``).
        """
        info = super().get_data_info(idx)
        for frame in info.get('frames', ()):
            for key in _SHARED_KEYS:
                frame[key] = deepcopy(info[key])
        return info

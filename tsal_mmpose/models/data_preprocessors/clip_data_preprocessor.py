"""Data preprocessor flattening batches of clips into batches of frames."""
import math
from typing import Any, List, Optional, Sequence

import torch
from mmengine.structures import BaseDataElement
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS

__all__ = ['ClipDataPreprocessor']


def _is_nested(data_samples: Any) -> bool:
    """Whether ``data_samples`` is a list of per-clip lists."""
    return (isinstance(data_samples, (list, tuple)) and len(data_samples) > 0
            and all(isinstance(s, (list, tuple)) for s in data_samples))


def _frame_index(sample: Any) -> Optional[int]:
    """The ``frame_index`` metainfo of a data sample, if any."""
    value = sample.metainfo.get('frame_index', None) if hasattr(
        sample, 'metainfo') else None
    return None if value is None else int(value)


def _element_to(element: BaseDataElement, device: torch.device,
                non_blocking: bool) -> BaseDataElement:
    """``element.to(device)`` with the metainfo values shared, not copied.

    The same fields as mmengine's ``BaseDataElement.to``: every data value
    with a ``to`` method is moved (nested data elements recursively), the
    others are kept; the element itself is not modified.
    """
    moved = element.__class__()
    for name, value in element.metainfo_items():
        moved.set_field(value, name, field_type='metainfo')
    for name, value in element.items():
        if isinstance(value, BaseDataElement):
            value = _element_to(value, device, non_blocking)
        elif hasattr(value, 'to'):
            value = value.to(device, non_blocking=non_blocking)
        moved.set_field(value, name)
    return moved


@MODELS.register_module()
class ClipDataPreprocessor(PoseDataPreprocessor):
    """mmpose's ``PoseDataPreprocessor`` for batches of clips.

    A clip batch has ``inputs``: a list of B tensors [K_b, 3, H, W] (or one
    tensor [B, K, 3, H, W]) and ``data_samples``: a list of B lists of K_b
    ``PoseDataSample`` (``clip_collate``). It is flattened, clip-major, to
    ``inputs`` [M, 3, H, W] with M = sum_b K_b (= B * K for clips of equal
    length; frame k of clip b at index b * K + k) and a flat list of M data
    samples, then normalised (``mean`` / ``std``, ``bgr_to_rgb``) exactly
    as ``PoseDataPreprocessor`` does it. The frame-major layout produced by
    mmengine's ``pseudo_collate`` (K lists of B samples) is recognised by
    the samples' ``frame_index`` metainfo and reordered to clip-major.

    Plain mmpose batches (a list of [3, H, W] tensors and a flat list of
    data samples) are handed to ``PoseDataPreprocessor`` unchanged, so this
    class can replace it anywhere.

    Data samples reach the model's device as with mmengine's
    ``BaseDataElement.to``, except that their metainfo values are shared
    with the dataloader's samples instead of deep-copied (:meth:`cast_data`).

    Args:
        Same as :class:`mmpose.models.PoseDataPreprocessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Flatten clips (if any), then normalise and stack.

        Args:
            data (dict): ``inputs`` and ``data_samples`` from the dataloader.
            training (bool): Whether batch augmentations apply.

        Returns:
            dict: ``inputs`` Tensor [M, 3, H, W] (float, normalised) and
            ``data_samples`` (flat list of M data samples, clip-major).
        """
        data = self._flatten_clips(data)
        return super().forward(data=data, training=training)

    def cast_data(self, data: Any) -> Any:
        """Move a batch to the model's device.

        As mmengine's ``BaseDataPreprocessor.cast_data``, but a data sample
        is rebuilt with its metainfo values shared rather than deep-copied
        by ``BaseDataElement.to``. That copy (flip indices, paths, shapes,
        centre and scale) runs on the host for every frame of every
        training step and inference batch, and it cost more than the rest
        of moving the sample: host time that a GPU waits for.

        Args:
            data: A batch (dicts, sequences, tensors, data samples).

        Returns:
            The same structure on ``self.device``.
        """
        if isinstance(data, BaseDataElement):
            return _element_to(data, self.device, bool(self._non_blocking))
        return super().cast_data(data)

    def _get_pad_shape(self, data: dict) -> List[tuple]:
        """Pad shapes; for a stacked NCHW tensor, from its H and W."""
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            div = self.pad_size_divisor
            pad_h = int(math.ceil(inputs.shape[2] / div)) * div
            pad_w = int(math.ceil(inputs.shape[3] / div)) * div
            return [(pad_h, pad_w)] * inputs.shape[0]
        return super()._get_pad_shape(data)

    @staticmethod
    def _flatten_samples(data_samples: Sequence[Sequence[Any]],
                         clip_lens: List[int]) -> List[Any]:
        """Clip-major flat list from B lists of K_b samples (or K of B)."""
        nested = [list(s) for s in data_samples]
        num_clips = len(clip_lens)
        clip_major = (len(nested) == num_clips and all(
            len(s) == k for s, k in zip(nested, clip_lens)))
        frame_major = (len(set(clip_lens)) == 1
                       and len(nested) == clip_lens[0]
                       and all(len(s) == num_clips for s in nested))
        if clip_major and frame_major:
            # square batch (B == K): the first clip's frames are numbered
            # 0..K-1 in clip-major order, all 0 in frame-major order
            indices = [_frame_index(s) for s in nested[0]]
            if None not in indices and len(nested[0]) > 1 and all(
                    i == 0 for i in indices):
                clip_major = False
        if clip_major:
            return [sample for clip in nested for sample in clip]
        if frame_major:
            return [
                nested[k][b] for b in range(num_clips)
                for k in range(clip_lens[0])
            ]
        raise ValueError(
            'data_samples of a clip batch must be B lists of K_b samples '
            f'matching the inputs (clip lengths {clip_lens}), got '
            f'{len(nested)} lists of lengths {[len(s) for s in nested]}')

    def _flatten_clips(self, data: dict) -> dict:
        """Turn a clip batch into a frame batch; leave other batches."""
        inputs = data['inputs']
        data_samples = data.get('data_samples', None)
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 5:
                return data
            clips: List[torch.Tensor] = list(inputs.unbind(0))
        elif isinstance(inputs, (list, tuple)) and inputs and all(
                isinstance(x, torch.Tensor) and x.dim() == 4
                for x in inputs):
            clips = list(inputs)
        else:
            return data
        clip_lens = [int(x.shape[0]) for x in clips]
        shapes = {tuple(x.shape[1:]) for x in clips}
        if len(shapes) == 1:
            frames: Any = torch.cat(clips, dim=0)
        else:
            frames = [f for x in clips for f in x.unbind(0)]
        out = dict(data)
        out['inputs'] = frames
        if data_samples is not None:
            if _is_nested(data_samples):
                flat = self._flatten_samples(data_samples, clip_lens)
            else:
                flat = list(data_samples)
            if len(flat) != sum(clip_lens):
                raise ValueError(
                    f'{len(flat)} data samples for {sum(clip_lens)} frames '
                    f'(clip lengths {clip_lens})')
            out['data_samples'] = flat
        return out

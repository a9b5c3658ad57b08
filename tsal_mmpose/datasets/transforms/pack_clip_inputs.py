"""Pack a transformed clip into K images and K mmpose data samples."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import TRANSFORMS

__all__ = ['PackClipInputs', 'CLIP_META_KEYS']

# Per-frame metainfo of a clip, added to the keys of PackPoseInputs.
CLIP_META_KEYS = ('clip_len', 'frame_index', 'labelled', 'video_id',
                  'frame_id', 'category', 'evaluate')

_POSE_META_KEYS = ('id', 'img_id', 'img_path', 'category_id', 'crowd_index',
                   'ori_shape', 'img_shape', 'input_size', 'input_center',
                   'input_scale', 'flip', 'flip_direction', 'flip_indices',
                   'raw_ann_info', 'dataset_name')


@TRANSFORMS.register_module()
class PackClipInputs(BaseTransform):
    """Pack a clip: ``inputs`` [K, 3, H, W] and K ``PoseDataSample``.

    Each frame's annotation is packed by mmpose's :class:`PackPoseInputs`,
    so a frame's data sample is exactly what a single top-down image would
    give, plus the metainfo keys :data:`CLIP_META_KEYS` (``category`` only
    when known). The K images ([H, W, 3], BGR as loaded) are stacked once
    into ``inputs`` [K, 3, H, W] with their dtype (one numpy copy per clip
    rather than one torch transpose per frame).

    Frames with ``gt_hidden=True`` (the unlabelled frames of a training
    clip) hand no ground truth to a loss: ``gt_instances.keypoints`` and
    ``gt_instances.keypoints_visible`` are all zero (and so is
    ``transformed_keypoints`` when packed), ``gt_instance_labels`` is empty
    and there are no ``gt_fields``, whatever targets the pipeline may have
    encoded. Their transformed annotation is kept for analysis only, as
    ``gt_instances.hidden_keypoints`` [1, N, 2] (original image pixels,
    like ``keypoints``) and ``gt_instances.hidden_transformed_keypoints``
    [1, N, 2] (input image pixels), when the frame has them.

    A results dict without ``frames`` (a single image, as
    ``mmpose.apis.inference_topdown`` builds it) is packed as
    ``PackPoseInputs`` packs it: ``inputs`` [3, H, W] and one data sample.

    Args:
        meta_keys (Sequence[str]): Metainfo keys of each data sample.
            Defaults to PackPoseInputs' keys plus :data:`CLIP_META_KEYS`.
        pack_transformed (bool): Also pack ``transformed_keypoints`` (as
            PackPoseInputs). Defaults to False.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = _POSE_META_KEYS + CLIP_META_KEYS,
                 pack_transformed: bool = False) -> None:
        self.meta_keys = tuple(meta_keys)
        self.pack_transformed = pack_transformed
        self.packer = PackPoseInputs(
            meta_keys=self.meta_keys, pack_transformed=pack_transformed)

    @staticmethod
    def _hide_gt(frame: Dict) -> Dict:
        """A copy of ``frame`` without any loss-facing ground truth."""
        frame = dict(frame)
        # Encoded targets: drop every item of the codec's tables and of
        # PackPoseInputs' defaults. Without a codec instance table only
        # PackPoseInputs' own instance keys are packed (zeroed below).
        frame.pop('instance_mapping_table', None)
        for table in (frame.pop('label_mapping_table', None),
                      frame.pop('field_mapping_table', None),
                      PackPoseInputs.label_mapping_table,
                      PackPoseInputs.field_mapping_table):
            for key in table or ():
                frame.pop(key, None)
        for key in ('keypoints', 'keypoints_visible',
                    'transformed_keypoints'):
            value = frame.get(key, None)
            if isinstance(value, np.ndarray):
                frame[key] = np.zeros_like(value)
        return frame

    def transform(self, results: Dict) -> Dict:
        """Pack the frames of a clip.

        Args:
            results (dict): A clip with ``frames`` (list of K frame dicts,
                each holding ``img`` [H, W, 3]), or one frame dict.

        Returns:
            dict: ``inputs`` (Tensor [K, 3, H, W], dtype of the images) and
            ``data_samples`` (list of K ``PoseDataSample``, frame order);
            for a single frame ``inputs`` [3, H, W] and one data sample.
        """
        if 'frames' not in results:
            packed = self.transform(dict(frames=[results]))
            return dict(inputs=packed['inputs'][0],
                        data_samples=packed['data_samples'][0])
        images = []
        data_samples = []
        for frame in results['frames']:
            img = frame.get('img', None)
            if not isinstance(img, np.ndarray):
                raise KeyError('PackClipInputs expects every frame to hold '
                               f'an image array "img", got {type(img)}')
            images.append(img if img.ndim == 3 else img[..., None])
            # the images are stacked once for the whole clip below:
            # PackPoseInputs only packs the annotations (empty image view)
            frame = dict(frame, img=images[-1][:0, :0])
            if frame.get('category', '') is None:
                del frame['category']
            hidden = bool(frame.get('gt_hidden', False))
            if hidden:
                kept = {
                    'hidden_keypoints': frame.get('keypoints', None),
                    'hidden_transformed_keypoints':
                    frame.get('transformed_keypoints', None),
                }
                frame = self._hide_gt(frame)
            data_sample = self.packer(frame)['data_samples']
            if hidden:
                data_sample.gt_instance_labels = InstanceData()
                if hasattr(data_sample, 'gt_fields'):
                    del data_sample.gt_fields
                for name, value in kept.items():
                    if isinstance(value, np.ndarray) and value.ndim == 3:
                        data_sample.gt_instances.set_field(
                            value[..., :2].copy(), name)
            data_samples.append(data_sample)
        shapes = {img.shape for img in images}
        if len(shapes) != 1:
            raise ValueError('frames of a clip must have the same image '
                             f'shape after the transforms, got {shapes}')
        # [K, H, W, C] -> [K, C, H, W] in one numpy copy
        inputs = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))
        return dict(inputs=torch.from_numpy(inputs),
                    data_samples=data_samples)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(meta_keys={self.meta_keys}, '
                f'pack_transformed={self.pack_transformed})')

"""Collate clips into a batch without transposing their frame lists."""
from typing import Any, Dict, List, Mapping, Sequence

from mmengine.registry import FUNCTIONS

__all__ = ['clip_collate']


@FUNCTIONS.register_module()
def clip_collate(data_batch: Sequence[Mapping[str, Any]]) -> Dict[str, List]:
    """Gather B packed samples into lists, keeping each clip whole.

    mmengine's default ``pseudo_collate`` transposes the per-clip list of
    K data samples into K lists of B samples, and refuses clips of
    different lengths (the last, shorter clip of a test video). This
    function only gathers: ``inputs`` becomes a list of B tensors
    [K_b, 3, H, W] and ``data_samples`` a list of B lists of K_b
    ``PoseDataSample``, the layout ``ClipDataPreprocessor`` expects. Plain
    image samples ([3, H, W] + one data sample) give mmpose's usual batch.
    Use it with ``collate_fn=dict(type='clip_collate')`` in a dataloader
    config (registered in mmengine's ``FUNCTIONS``, which the runner reads).

    Args:
        data_batch (Sequence[dict]): Outputs of the pipeline, e.g. of
            ``PackClipInputs``: dicts with the same keys.

    Returns:
        dict: For each key, the list of the B values.
    """
    if not data_batch:
        raise ValueError('clip_collate got an empty batch')
    keys = list(data_batch[0].keys())
    for item in data_batch:
        if set(item.keys()) != set(keys):
            raise ValueError('samples of a batch must have the same keys, '
                             f'got {keys} and {list(item.keys())}')
    return {
        key: [
            list(item[key]) if key == 'data_samples'
            and isinstance(item[key], (list, tuple)) else item[key]
            for item in data_batch
        ]
        for key in keys
    }

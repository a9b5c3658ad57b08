"""A test hook that records which dataset each item of a batch came from."""
import json
import os.path as osp
from collections import Counter

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class BatchSourceHook(Hook):
    """Write ``batch_sources_rank<r>.json``: per training iteration, the
    number of items of each ``dataset_name`` in the rank's batch (a clip
    counts once, by its first frame) and their clip lengths."""

    priority = 'LOWEST'

    def before_run(self, runner) -> None:
        self.batches = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        items = data_batch['data_samples']
        self.batches.append(dict(
            sources=Counter(clip[0].metainfo['dataset_name']
                            for clip in items),
            clip_lens=sorted(len(clip) for clip in items)))

    def after_run(self, runner) -> None:
        path = osp.join(runner.work_dir,
                        f'batch_sources_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(self.batches, f)

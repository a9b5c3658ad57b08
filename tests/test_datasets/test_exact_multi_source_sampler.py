"""ExactMultiSourceSampler: every batch holds the ratio, on every rank."""
import json
import os
import socket
from collections import Counter

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.registry import DefaultScope
from mmpose.registry import DATA_SAMPLERS, DATASETS

from tsal_mmpose.datasets import ExactMultiSourceSampler
from tsal_mmpose.datasets.exact_multi_source_sampler import \
    samples_per_source

METAINFO = dict(from_file='configs/_base_/datasets/300w.py')


def combined(faces_dir):
    """2 300W images (indices 0, 1), 1 300VW clip (index 2), 2 AFLW
    images mapped to 68 points (indices 3, 4): three sources."""
    mapping = [(0, 17), (5, 26), (13, 30), (18, 8)]
    return DATASETS.build(
        dict(type='CombinedClipDataset', metainfo=METAINFO, datasets=[
            dict(type='Face300WDataset', data_root=f'{faces_dir}/300w/',
                 ann_file='test_300w.json', data_mode='topdown',
                 pipeline=[dict(type='ImageToClip')]),
            dict(type='Face300VWClipDataset',
                 data_root=f'{faces_dir}/300vw/', ann_file='anno_300vw.json',
                 clip_len=2, label_stride=5, max_frame_gap=3),
            dict(type='AFLWDataset', data_root=f'{faces_dir}/aflw/',
                 ann_file='test_aflw.json', data_mode='topdown', pipeline=[
                     dict(type='KeypointConverter', num_keypoints=68,
                          mapping=mapping),
                     dict(type='ImageToClip')])
        ]))


def sources_per_batch(indices, batch_size, bounds=(2, 3, 5)):
    """The source of each index, counted per batch."""
    def source(i):
        return next(s for s, end in enumerate(bounds) if i < end)
    return [
        Counter(source(i) for i in indices[b:b + batch_size])
        for b in range(0, len(indices), batch_size)
    ]


def test_samples_per_source_by_hand():
    assert samples_per_source(8, [1, 1]) == [4, 4]
    assert samples_per_source(6, [1, 2]) == [2, 4]
    assert samples_per_source(10, [0.5, 2]) == [2, 8]
    assert samples_per_source(10, [0.1, 0.2, 0.7]) == [1, 2, 7]
    with pytest.raises(ValueError, match=r'source_ratio \[1, 2\] does not '
                       r'split batch_size 8 into whole numbers of items: it '
                       r'asks for 2.667, 5.333 items per source; use a '
                       r'batch_size that is a multiple of 3'):
        samples_per_source(8, [1, 2])
    with pytest.raises(ValueError, match='multiple of 2'):
        samples_per_source(5, [1, 1])
    with pytest.raises(ValueError, match='must be positive, got'):
        samples_per_source(4, [0, 1])
    with pytest.raises(ValueError, match='batch_size must be a positive'):
        samples_per_source(0, [1])


def test_every_batch_holds_the_ratio(faces_dir):
    dataset = combined(faces_dir)
    assert dataset.lens == [2, 1, 2]
    sampler = DATA_SAMPLERS.build(
        dict(type='ExactMultiSourceSampler', dataset=dataset, batch_size=6,
             source_ratio=[1, 2, 3], seed=0))
    assert isinstance(sampler, ExactMultiSourceSampler)
    assert sampler.num_per_source == [1, 2, 3]
    indices = list(sampler)
    assert len(indices) == 6  # one batch covers the 5 items
    for _ in range(3):  # later passes continue every source's order
        indices += list(sampler)
    counts = sources_per_batch(indices, 6)
    assert counts == [Counter({0: 1, 1: 2, 2: 3})] * 4
    # each source's shuffled order is drawn without repeats within a pass
    images = [i for i in indices if i < 2]
    assert sorted(images[:2]) == [0, 1] and sorted(images[2:4]) == [0, 1]
    with pytest.raises(ValueError, match=r'has 2 shares for the 3 sources'):
        ExactMultiSourceSampler(dataset, batch_size=4, source_ratio=[1, 1])
    with pytest.raises(ValueError, match='does not split batch_size 4'):
        ExactMultiSourceSampler(dataset, batch_size=4,
                                source_ratio=[1, 1, 1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _rank_indices(rank, world, port, faces_dir, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        # a spawned process starts without the tests' registry scope
        with DefaultScope.overwrite_default_scope('mmpose'):
            dataset = combined(faces_dir)
        sampler = ExactMultiSourceSampler(
            dataset, batch_size=6, source_ratio=[1, 2, 3], seed=3)
        assert (sampler.rank, sampler.world_size) == (rank, world)
        indices = []
        for _ in range(4):
            indices += list(sampler)
        with open(f'{out}/rank{rank}.json', 'w') as f:
            json.dump(indices, f)
    finally:
        dist.destroy_process_group()


def test_two_ranks_keep_the_ratio_in_each_batch(faces_dir, tmp_path):
    """Two gloo processes on the CPU: each rank's batches hold 1 + 2 + 3
    items, and the ranks split each source's order between them."""
    mp.spawn(_rank_indices, args=(2, _free_port(), str(faces_dir),
                                  str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text())
             for r in (0, 1)]
    for indices in ranks:
        # ceil(5 items / 2 ranks) = 3 per rank: one batch of 6 per pass
        assert len(indices) == 4 * 6
        assert sources_per_batch(indices, 6) == \
            [Counter({0: 1, 1: 2, 2: 3})] * 4
    # the two 300W images: rank 0 takes the even, rank 1 the odd places of
    # one shuffled order, so in each pass the ranks see both images
    for b in range(4):
        first = [i for i in ranks[0][6 * b:6 * b + 6] if i < 2]
        second = [i for i in ranks[1][6 * b:6 * b + 6] if i < 2]
        assert sorted(first + second) == [0, 1]

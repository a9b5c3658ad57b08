"""mmpose's MultiSourceSampler, refusing a ratio the batch cannot hold."""
from fractions import Fraction
from typing import List, Optional, Sized, Union

from mmpose.datasets import MultiSourceSampler
from mmpose.registry import DATA_SAMPLERS

__all__ = ['ExactMultiSourceSampler', 'samples_per_source']


def samples_per_source(batch_size: int,
                       source_ratio: List[Union[int, float]]) -> List[int]:
    """How many items of each source a batch holds, exactly.

    Args:
        batch_size (int): Items per batch (per process).
        source_ratio (list[int | float]): Positive shares of the sources.

    Returns:
        list[int]: ``batch_size * r / sum(source_ratio)`` for each share
        ``r``, every one a whole number.

    Raises:
        ValueError: if a share is not positive, or the shares do not split
            ``batch_size`` into whole numbers (mmpose's
            ``MultiSourceSampler`` would round them down and give the
            remainder to the first source).
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f'batch_size must be a positive int, got {batch_size!r}')
    if not isinstance(source_ratio, (list, tuple)) or not source_ratio:
        raise ValueError(
            f'source_ratio must be a non-empty list, got {source_ratio!r}')
    if any(not isinstance(r, (int, float)) or not r > 0
           for r in source_ratio):
        # a zero share would make MultiSourceSampler wait forever for items
        raise ValueError(
            f'every share of source_ratio must be positive, got '
            f'{source_ratio}: leave a source without share out of the '
            'dataset instead')
    # exact arithmetic on the decimal values as written in the config
    shares = [Fraction(str(r)) for r in source_ratio]
    counts = [batch_size * r / sum(shares) for r in shares]
    if any(c.denominator != 1 for c in counts):
        raise ValueError(
            f'source_ratio {list(source_ratio)} does not split batch_size '
            f'{batch_size} into whole numbers of items: it asks for '
            f'{", ".join(format(float(c), ".4g") for c in counts)} items per '
            'source; use a batch_size that is a multiple of '
            f'{_smallest_batch(shares)}')
    return [int(c) for c in counts]


def _smallest_batch(shares: List[Fraction]) -> int:
    """The smallest batch size the shares split into whole numbers."""
    total = sum(shares)
    size = 1
    while any((size * r / total).denominator != 1 for r in shares):
        size += 1
    return size


@DATA_SAMPLERS.register_module()
class ExactMultiSourceSampler(MultiSourceSampler):
    """mmpose's ``MultiSourceSampler`` with the ratio checked exactly.

    Every batch holds ``batch_size * r_i / sum(r)`` items of source ``i``
    (source 0's first, in the order of ``CombinedDataset.datasets``); in
    distributed training every process's batch does, each process drawing
    its own share of every source's shuffled order. mmpose's sampler rounds
    each share down and gives the remainder to the first source, so a ratio
    the batch cannot hold (1:2 in a batch of 8 gives 3 + 5) and a zero
    share (it then waits forever for items) pass silently; here they are
    refused with a message. Everything else is mmpose's.

    Set the dataloader's ``batch_size`` to the same value.

    Args:
        dataset (Sized): A ``CombinedDataset`` (e.g.
            :class:`CombinedClipDataset`).
        batch_size (int): Items per batch and process.
        source_ratio (list[int | float]): Positive shares of the sources.
        shuffle (bool): Shuffle each source. Defaults to True.
        round_up (bool): As in ``MultiSourceSampler``. Defaults to True.
        seed (int, optional): Random seed; mmengine's runner passes its own.
    """

    def __init__(self,
                 dataset: Sized,
                 batch_size: int,
                 source_ratio: List[Union[int, float]],
                 shuffle: bool = True,
                 round_up: bool = True,
                 seed: Optional[int] = None) -> None:
        counts = samples_per_source(batch_size, source_ratio)
        sources = len(getattr(dataset, 'datasets', ()))
        if len(counts) != sources:
            raise ValueError(
                f'source_ratio {list(source_ratio)} has {len(counts)} shares '
                f'for the {sources} sources of the dataset')
        super().__init__(
            dataset=dataset,
            batch_size=batch_size,
            source_ratio=list(source_ratio),
            shuffle=shuffle,
            round_up=round_up,
            seed=seed)
        # the exact counts: mmpose's float division can round 3 to 2.999
        self.num_per_source = counts

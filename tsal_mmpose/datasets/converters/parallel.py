"""A process pool for OpenCV work (video decoding, rendering)."""
from __future__ import annotations

import multiprocessing
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

import cv2

__all__ = ['opencv_fork_pool', 'map_unordered']

_Job = TypeVar('_Job')
_Result = TypeVar('_Result')


@contextmanager
def opencv_fork_pool(workers: int) -> Iterator:
    """A fork-context ``multiprocessing.Pool`` whose workers run OpenCV
    single-threaded (one process per core).

    OpenCV's thread count is set to 1 in the parent *before* forking and
    restored afterwards: changing it inside a forked child can deadlock on
    the thread pool inherited from the parent. The pool is closed and
    joined on exit (terminated if the block raised).

    Args:
        workers: Number of processes.

    Yields:
        The pool.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        pool = multiprocessing.get_context('fork').Pool(workers)
        try:
            yield pool
        except BaseException:
            pool.terminate()
            raise
        else:
            pool.close()
        finally:
            pool.join()
    finally:
        cv2.setNumThreads(previous)


def map_unordered(fn: Callable[[_Job], _Result], jobs: Sequence[_Job],
                  workers: int) -> Iterator[_Result]:
    """``fn`` over ``jobs``: in this process with one worker or one job,
    else in an :func:`opencv_fork_pool` of ``min(workers, len(jobs))``.

    Args:
        fn: A picklable function of one job.
        jobs: The jobs.
        workers: Number of processes; <= 1 runs in this process.

    Yields:
        The results, in the order in which they are finished (job order
        in this process). Closing the iterator early terminates the pool.
    """
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    with opencv_fork_pool(min(workers, len(jobs))) as pool:
        yield from pool.imap_unordered(fn, jobs)

"""A process pool for OpenCV work (video decoding, rendering)."""
from __future__ import annotations

import multiprocessing
from contextlib import contextmanager
from typing import Iterator

import cv2

__all__ = ['opencv_fork_pool']


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

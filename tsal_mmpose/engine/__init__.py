from .hooks import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .queue_average import queue_average_, split_tensors

__all__ = ['queue_average_', 'split_tensors'] + _hooks_all

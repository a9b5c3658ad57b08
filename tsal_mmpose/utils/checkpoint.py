"""Loading mmengine checkpoints under torch's ``weights_only`` unpickler.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
to unpickle anything but tensors and plain containers. mmengine (0.10.x)
calls ``torch.load`` without the argument, and its checkpoints also hold the
message hub's ``HistoryBuffer`` objects and numpy arrays / scalars (dataset
meta, logged values), so ``--resume`` and ``load_from`` fail with
``UnpicklingError: Weights only load failed``.

Rather than switching the check off globally (``TORCH_FORCE_NO_WEIGHTS_ONLY_
LOAD``), :func:`allow_mmengine_checkpoints` adds exactly the types that
mmengine checkpoints contain to torch's allow-list of safe globals. Any
other object in a checkpoint is still refused.

One reference needs care: a pickled ``HistoryBuffer`` carries its statistics
methods as ``getattr(HistoryBuffer, 'mean')``. Allowing ``builtins.getattr``
itself would let a checkpoint reach any attribute of any allowed object, so
the name ``builtins.getattr`` is bound to :func:`history_buffer_getattr`
instead, which resolves only those statistics methods and refuses anything
else.
"""
import pickle
from typing import Any, List

import numpy as np
import torch

__all__ = [
    'allow_mmengine_checkpoints', 'mmengine_checkpoint_globals',
    'history_buffer_getattr'
]


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods.

    Args:
        obj: Must be the ``HistoryBuffer`` class.
        name (str): A registered statistics method (``min``, ``max``,
            ``current``, ``mean`` or one added by ``register_statistics``).

    Returns:
        The method.

    Raises:
        pickle.UnpicklingError: for any other object or name.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and (name in HistoryBuffer._statistics_methods
                                 or name in ('min', 'max', 'current',
                                             'mean')):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only '
        'HistoryBuffer statistics methods are allowed')


def mmengine_checkpoint_globals() -> List[object]:
    """The classes and functions an mmengine checkpoint may reference.

    Returns:
        list: ``HistoryBuffer`` (message hub state), what numpy pickles
        refer to for arrays, dtypes and scalars, and ``builtins.getattr``
        bound to :func:`history_buffer_getattr`.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float16, np.float32, np.float64,
                                    np.int8, np.int16, np.int32, np.int64,
                                    np.uint8, np.uint16, np.uint32, np.uint64,
                                    np.bool_, np.str_, np.object_)
    ]
    return [HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype, bytes,
            *dtype_classes, (history_buffer_getattr, 'builtins.getattr')]


def allow_mmengine_checkpoints() -> None:
    """Allow torch's ``weights_only`` loader to read mmengine checkpoints.

    Idempotent. Call it once before a Runner resumes or loads weights (the
    tools in ``tools/`` do); it only extends the allow-list with the types
    named by :func:`mmengine_checkpoint_globals`.
    """
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())

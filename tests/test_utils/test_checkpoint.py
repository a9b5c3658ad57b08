"""Loading mmengine checkpoints with torch's weights_only unpickler."""
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer

from tsal_mmpose.utils import allow_mmengine_checkpoints
from tsal_mmpose.utils.checkpoint import history_buffer_getattr


def _mmengine_like_checkpoint() -> bytes:
    hub = MessageHub('tsal_test_ckpt')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', 0.25)
    ckpt = dict(
        meta=dict(
            iter=7,
            dataset_meta=dict(sigmas=np.array([0.1, 0.2], np.float32)),
            seed=np.int64(3)),
        state_dict={'w': torch.ones(2)},
        message_hub=hub.state_dict())
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return buf.getvalue()


def test_mmengine_checkpoint_loads_with_weights_only():
    data = _mmengine_like_checkpoint()
    allow_mmengine_checkpoints()
    ckpt = torch.load(io.BytesIO(data), weights_only=True)
    assert ckpt['meta']['iter'] == 7
    assert ckpt['meta']['seed'] == 3
    np.testing.assert_array_equal(ckpt['meta']['dataset_meta']['sigmas'],
                                  np.array([0.1, 0.2], np.float32))
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375)


class _Escape:
    """A pickle that tries to reach an arbitrary attribute via getattr."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def test_other_getattr_targets_are_refused():
    allow_mmengine_checkpoints()
    buf = io.BytesIO()
    torch.save({'x': _Escape()}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf, weights_only=True)
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_getattr(np.ndarray, 'tofile')
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean


def test_unknown_classes_stay_refused():
    allow_mmengine_checkpoints()
    buf = io.BytesIO()
    torch.save({'x': pickle.PickleError('not allowed')}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf, weights_only=True)

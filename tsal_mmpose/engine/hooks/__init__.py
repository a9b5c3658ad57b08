from .finite_checkpoint_hook import FiniteCheckpointHook, nonfinite_tensors
from .queue_teacher_hook import QueueTeacherHook, unwrap_model

__all__ = [
    'FiniteCheckpointHook', 'nonfinite_tensors', 'QueueTeacherHook',
    'unwrap_model'
]

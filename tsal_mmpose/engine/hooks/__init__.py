from .queue_teacher_hook import BUFFER_POLICIES, QueueTeacherHook, unwrap_model

__all__ = ['QueueTeacherHook', 'unwrap_model', 'BUFFER_POLICIES']

from .tsal_head import TSALHead

__all__ = ['TSALHead']

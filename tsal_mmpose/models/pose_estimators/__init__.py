from .tsal_estimator import (ClipLayout, ClipOutputs, NonFiniteLossError,
                             TSALEstimator)
from .tsal_network import TSALNetwork

__all__ = [
    'ClipLayout', 'ClipOutputs', 'NonFiniteLossError', 'TSALEstimator',
    'TSALNetwork'
]

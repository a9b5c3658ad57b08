from .tsal_estimator import TSALEstimator
from .tsal_network import TSALNetwork

__all__ = ['TSALEstimator', 'TSALNetwork']

"""tsal_mmpose: Teacher-Student Asynchronous Learning (AAAI 2021) for mmpose.

Importing the package registers its components (codecs, datasets and
transforms, models, losses, metrics, hooks) into mmpose's registries; it has
no other effect.
"""
from . import codecs, datasets, engine, evaluation, models  # noqa: F401

__version__ = '0.1.0'
__all__ = ['__version__']

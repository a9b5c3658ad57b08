from .allocator import retain_freed_memory
from .checkpoint import allow_mmengine_checkpoints
from .config_variants import apply_variant, variant_overrides
from .dist import prepare_cpu_distributed

__all__ = [
    'allow_mmengine_checkpoints', 'apply_variant', 'variant_overrides',
    'prepare_cpu_distributed', 'retain_freed_memory'
]

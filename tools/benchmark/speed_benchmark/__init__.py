"""The speed benchmark of TSAL against a plain mmpose top-down model.

``tools/benchmark/speed.py`` is its command line and describes what it
measures. The modules, in the order a run uses them: :mod:`.models` (the
two models and their batches), :mod:`.steps` (the timed callables),
:mod:`.timing`, :mod:`.memory`, :mod:`.loader`, :mod:`.profiling`,
:mod:`.run` (the sections), :mod:`.report` (the tables), :mod:`.cli`.
"""
from .cli import DEFAULT_CONFIG, main, parse_args
from .loader import measure_loader
from .memory import measure_memory
from .models import (BenchOptimWrapper, Float32Outputs, build_models,
                     build_optim_wrapper, build_teacher_hook, frame_batch,
                     load_config, load_weights, make_batches,
                     plain_model_config, tsal_model_config)
from .profiling import (LABEL_PREFIXES, flop_analysis, label_times,
                        module_ranges, profile_call, profiled_modules)
from .report import format_tables
from .run import run_benchmark
from .session import RATIO_KEYS
from .steps import (FusedForward, agreement, make_fast_network,
                    make_predict, make_train_step, unsup_hold_iter)
from .timing import interleaved_timings, summarize

__all__ = [
    'RATIO_KEYS', 'DEFAULT_CONFIG', 'parse_args', 'main', 'run_benchmark',
    'load_config', 'build_models', 'tsal_model_config', 'plain_model_config',
    'Float32Outputs', 'load_weights', 'build_teacher_hook',
    'BenchOptimWrapper', 'build_optim_wrapper', 'frame_batch',
    'make_batches', 'unsup_hold_iter', 'make_train_step', 'make_predict',
    'FusedForward', 'make_fast_network', 'agreement', 'measure_loader',
    'measure_memory', 'LABEL_PREFIXES', 'profiled_modules', 'module_ranges',
    'label_times', 'profile_call', 'flop_analysis', 'summarize',
    'interleaved_timings', 'format_tables'
]

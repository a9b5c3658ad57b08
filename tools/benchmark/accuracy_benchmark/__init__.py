"""The accuracy benchmark of TSAL against the alternatives (Table 3).

``tools/benchmark/accuracy.py`` is its command line and describes it. The
modules: :mod:`.runs` (the rows and their configs), :mod:`.steps` (data,
training, evaluation), :mod:`.reports` (rows, targets, tables, plots),
:mod:`.curves` (learning curves) and :mod:`.cli`.
"""
from .cli import add_run_arguments, main, parse_args, run_benchmark, \
    seed_args
from .curves import plot_learning_curves
from .reports import (check_targets, format_cell, label_stride,
                      mixed_training_lines, plot_sweep, result_rows, target_results,
                      write_image_seed_summary, write_reports)
from .runs import (ABLATIONS, DEFAULT_CONFIG, DEFAULT_METHODS, METHOD_CONFIGS,
                   METHODS, MIXED_METHODS, MODES, ROOT, SINGLE_NETWORK,
                   SOURCES, SPLITS, Run,
                   build_config, log, needs_image_set, parse_value,
                   plan_runs)
from .steps import (IMAGE_PREFIX, checkpoint_of, config_of, curve_of,
                    evaluate, evaluate_curve, evaluate_images, generate_data, image_config_of,
                    image_test_dataloader, metrics_dir,
                    oversubscription_warning, per_face_errors, run_step,
                    train, train_and_evaluate, write_configs)

__all__ = [
    'ROOT', 'ABLATIONS', 'DEFAULT_CONFIG', 'MODES', 'SPLITS', 'SOURCES',
    'SINGLE_NETWORK', 'METHODS', 'METHOD_CONFIGS', 'MIXED_METHODS',
    'DEFAULT_METHODS', 'log',
    'Run', 'parse_value', 'plan_runs', 'build_config', 'needs_image_set',
    'oversubscription_warning', 'run_step', 'generate_data',
    'checkpoint_of', 'config_of', 'image_config_of', 'image_test_dataloader',
    'write_configs', 'train', 'metrics_dir', 'evaluate', 'evaluate_images',
    'per_face_errors', 'curve_of', 'evaluate_curve', 'train_and_evaluate',
    'IMAGE_PREFIX', 'format_cell', 'result_rows', 'target_results',
    'check_targets', 'write_reports', 'label_stride', 'plot_sweep',
    'plot_learning_curves', 'mixed_training_lines', 'write_image_seed_summary',
    'add_run_arguments', 'parse_args', 'seed_args', 'run_benchmark', 'main'
]

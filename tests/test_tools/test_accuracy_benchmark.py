"""tools/benchmark/accuracy.py: runs, configs, targets and reports."""
import csv
import json
import math

import pytest

from tests.test_tools.tool_loader import load_script


def load_tool():
    return load_script('tools/benchmark/accuracy.py')


def args_for(tool, tmp_path, *extra):
    args = tool.parse_args(['--work-dir', str(tmp_path / 'work'),
                            '--data-root', str(tmp_path / 'data'),
                            '--iters', '140', *extra])
    args.config = args.config.resolve()
    return args


def test_runs_and_configs_of_the_table_3_rows(tmp_path):
    tool = load_tool()
    args = args_for(tool, tmp_path)
    runs = {r.name: r for r in tool.plan_runs(args)}
    assert list(runs) == list(tool.DEFAULT_METHODS)
    assert runs['baseline'].networks == ['teacher']
    assert runs['tsal'].networks == ['teacher', 'student']
    base = tool.build_config(args, runs['baseline'])
    assert not base.model.two_networks and base.custom_hooks == []
    mean_teacher = tool.build_config(args, runs['mean_teacher'])
    assert mean_teacher.custom_hooks == [
        dict(type='QueueTeacherHook', queue_size=1, smoothing=0.999)
    ]
    ts_sic = tool.build_config(args, runs['ts_sic'])
    assert ts_sic.model.sic_loss is not None and ts_sic.model.mfds_loss is None
    # the reference row: the baseline with every frame labelled
    assert runs['all_labelled'].networks == ['teacher']
    reference = tool.build_config(args, runs['all_labelled'])
    assert reference.train_dataloader.dataset.label_stride == 1
    assert base.train_dataloader.dataset.label_stride == 10
    assert reference.model == base.model
    # the schedule keeps the paper's proportions at --iters (140 here)
    tsal = tool.build_config(args, runs['tsal'])
    assert tsal.train_cfg.max_iters == 140
    assert tsal.param_scheduler[0].milestones == [90, 120]
    assert (tsal.model.unsup_weight.ramp_up, tsal.model.unsup_weight.hold,
            tsal.model.unsup_weight.total) == (60, 110, 140)
    assert tsal.train_dataloader.dataset.data_root == \
        f'{tmp_path / "data"}/'


def test_label_efficiency_rows_stride_and_curve_points(tmp_path):
    """The plain mmpose and teacher-instructs rows, --label-stride (the
    reference row keeps every frame) and --curve-points."""
    tool = load_tool()
    args = args_for(tool, tmp_path, '--config',
                    str(tool.ROOT / 'configs' / 'tsal_micro_synthetic.py'),
                    '--methods',
                    'baseline', 'mmpose_heatmap', 'teacher_instructs',
                    'all_labelled', '--label-stride', '30',
                    '--curve-points', '7')
    runs = {r.name: r for r in tool.plan_runs(args)}
    assert runs['mmpose_heatmap'].networks == [tool.SINGLE_NETWORK]
    assert runs['teacher_instructs'].networks == ['teacher', 'student']
    cfgs = {name: tool.build_config(args, run) for name, run in runs.items()}
    strides = {name: cfg.train_dataloader.dataset.label_stride
               for name, cfg in cfgs.items()}
    assert strides == dict(baseline=30, mmpose_heatmap=30,
                           teacher_instructs=30, all_labelled=1)
    plain = cfgs['mmpose_heatmap']
    assert plain.model.type == 'TopdownPoseEstimator'
    assert plain.model.head.type == 'HeatmapHead'
    assert plain.model.backbone == cfgs['baseline'].model.backbone
    assert plain.train_dataloader.dataset.clip_len == 1  # labelled only
    assert plain.test_dataloader == cfgs['baseline'].test_dataloader
    # one learning rate for every row, the micro config's (3e-3)
    assert {c.optim_wrapper.optimizer.lr for c in cfgs.values()} == {3e-3}
    # ... but the motion field's is 1e-3 (it diverged at 3e-3 under TSAL)
    assert cfgs['teacher_instructs'].optim_wrapper.paramwise_cfg.custom_keys[
        'motion_field'].lr_mult == pytest.approx(1 / 3)
    assert cfgs['teacher_instructs'].model.student_targets_from == 'teacher'
    assert cfgs['baseline'].model.get('student_targets_from') is None
    checkpoint = cfgs['baseline'].default_hooks.checkpoint
    assert (checkpoint.interval, checkpoint.max_keep_ckpts) == (20, -1)
    assert '--predict-on' not in tool.accuracy_benchmark.steps._network_args(
        'model')
    # the plain row's config is matched to the micro config's input
    args = args_for(tool, tmp_path, '--methods', 'baseline',
                    'mmpose_heatmap')
    with pytest.raises(SystemExit, match='input size'):
        tool.plan_runs(args)


def test_sweep_runs_override_one_key(tmp_path):
    tool = load_tool()
    args = args_for(tool, tmp_path, '--sweep', 'model.mu=0,0.5',
                    '--sweep-method', 'ts', '--cfg-options',
                    'model.pseudo_loss.loss_weight=0.01')
    runs = tool.plan_runs(args)
    assert [r.name for r in runs] == ['ts_mu_0', 'ts_mu_0.5']
    assert [r.sweep_value for r in runs] == [0, 0.5]
    cfg = tool.build_config(args, runs[1])
    assert cfg.model.mu == 0.5
    assert cfg.model.sic_loss is None  # the 'ts' row
    assert cfg.model.pseudo_loss.loss_weight == 0.01  # --cfg-options
    with pytest.raises(SystemExit, match='KEY=V1'):
        tool.plan_runs(args_for(tool, tmp_path, '--sweep', 'model.mu'))


def _row(tool, run, net, nme, auc):
    row = dict(run=run, method=run, network=net, sweep_value=None)
    for mode in tool.MODES:
        for split in tool.SPLITS:
            row[f'NME_{mode}/{split}'] = nme
        row[f'AUC@0.08_{mode}'] = auc
        row[f'FR@0.08_{mode}'] = 100 - auc
    return row


def test_targets_are_checked_from_the_rows():
    tool = load_tool()
    rows = [
        _row(tool, 'baseline', 'teacher', 10.0, 20.0),
        _row(tool, 'mean_teacher', 'teacher', 9.5, 22.0),
        _row(tool, 'tsal', 'teacher', 8.9, 25.0),
        _row(tool, 'tsal', 'student', 9.2, 23.0),
    ]
    lines = tool.check_targets(rows)
    assert len(lines) == 4
    assert '11.0% lower' in lines[0] and lines[0].endswith(': met')
    assert all(line.endswith(': met') for line in lines)
    assert lines[1] == '- TSAL teacher NME 8.90 below Mean Teacher (9.50): met'
    assert lines[2] == ('- TSAL teacher NME 8.90 better than its student '
                        '(9.20): met')
    # values equal to two decimals get the digits that tell them apart
    rows[3]['NME_inter_ocular/all'] = 8.90008
    assert tool.check_targets(rows)[2] == (
        '- TSAL teacher NME 8.9000 better than its student (8.9001): met')
    rows[3]['NME_inter_ocular/all'] = 9.2
    rows[2]['NME_inter_ocular/all'] = 9.6  # 4% better, worse than MT
    lines = tool.check_targets(rows)
    assert '4.0% lower' in lines[0] and lines[0].endswith('NOT met')
    assert lines[1].endswith('NOT met')
    assert lines[2].endswith('NOT met')  # the student (9.2) is better
    assert tool.check_targets(rows[:2]) == []  # no TSAL row
    rows.append(_row(tool, 'all_labelled', 'teacher', 9.0, 24.0))
    lines = tool.check_targets(rows)
    assert len(lines) == 5
    # the verdicts behind the lines: TSAL 9.6 against baseline 10.0 (4%),
    # Mean Teacher 9.5 and student 9.2; AUC 25 against 22; the reference
    assert [ok for _, ok in tool.target_results(rows)] == [
        False, False, False, True, None]
    assert lines[4].startswith('- Reference, not a target: with every '
                               'frame labelled the baseline reaches 9.00, '
                               '10.0% lower')
    rows[-1]['NME_inter_ocular/all'] = 10.5
    assert tool.check_targets(rows)[4].startswith(
        '- Reference, not a target: with every frame labelled the baseline '
        'reaches 10.50, 5.0% higher than with one in ten')
    rows[2]['NME_inter_ocular/all'] = 10.2
    assert '2.0% higher (target >= 10%): NOT met' in tool.check_targets(
        rows)[0]


def test_reports_table_csv_ced_and_sweep_plot(tmp_path):
    tool = load_tool()
    args = args_for(tool, tmp_path, '--sweep', 'model.mu=0,1')
    args.work_dir.mkdir(parents=True)
    runs = tool.plan_runs(args)
    results = {}
    for i, run in enumerate(runs):
        results[run.name] = {}
        for j, net in enumerate(run.networks):
            nme = 0.05 + 0.01 * i + 0.005 * j
            metrics = {}
            for mode in tool.MODES:
                for split in tool.SPLITS:
                    prefix = '' if split == 'all' else f'{split}/'
                    metrics[f'{prefix}NME_{mode}'] = 100 * nme
                metrics[f'AUC@0.08_{mode}'] = 30.0 - i
                metrics[f'FR@0.08_{mode}'] = 10.0 + i
            if i == 0:  # a video test set: the flicker
                metrics['NMF_inter_ocular'] = 3.25 + j
            metrics['NME_inter_ocular_lhr'] = 100 * nme + 1
            if i == 0:  # a run evaluated without the sources
                metrics['NME_inter_ocular_clor'] = 100 * nme + 2
            results[run.name][net] = metrics
            folder = tool.metrics_dir(args, run, net) / 'test'
            folder.mkdir(parents=True)
            with open(folder / 'per_image_nme.csv', 'w', newline='') as f:
                writer = csv.writer(f)
                writer.writerow(['img_id', 'nme_inter_ocular'])
                for k in range(4):
                    writer.writerow([k, nme * (0.5 + k / 4)])
    text = tool.write_reports(args, runs, results)
    lines = text.splitlines()
    assert '| TSAL (teacher-student + SIC + MFDS), model.mu = 1 | student '\
        '| 6.50 | 6.50 | 6.50 | 6.50 | 6.50 | 6.50 | 29.00 | 11.00 | - '\
        '| 7.50 | - |' in lines
    assert '| TSAL (teacher-student + SIC + MFDS), model.mu = 0 | teacher '\
        '| 5.00 | 5.00 | 5.00 | 5.00 | 5.00 | 5.00 | 30.00 | 10.00 | 3.25 '\
        '| 6.00 | 7.00 |' in lines
    with open(args.work_dir / 'results.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['run'], r['network']) for r in rows] == [
        ('tsal_mu_0', 'teacher'), ('tsal_mu_0', 'student'),
        ('tsal_mu_1', 'teacher'), ('tsal_mu_1', 'student')
    ]
    assert math.isclose(float(rows[1]['NME_inter_ocular/all']), 5.5)
    assert math.isclose(float(rows[1]['NMF_inter_ocular/all']), 4.25)
    assert math.isnan(float(rows[2]['NMF_inter_ocular/all']))
    assert 'one labelled frame in 10 (every frame' in lines[2]
    for name in ('ced.png', 'ced.csv', 'sweep.png', 'results.md'):
        assert (args.work_dir / name).stat().st_size > 0
    with open(args.work_dir / 'ced.csv') as f:
        groups = {r['group'] for r in csv.DictReader(f)}
    assert len(groups) == 4
    assert 'training seed 0, 1 torch thread per model; ' in lines[2]
    assert '(data seed 0)' in lines[2]
    # a training seed set apart from the data's is the one reported
    args.cfg_options = {'randomness.seed': 2}
    args.threads = 2
    assert 'training seed 2, 2 torch threads per model; ' in \
        tool.write_reports(args, runs, results)


def test_outputs_of_another_config_are_refused(tmp_path):
    tool = load_tool()
    args = args_for(tool, tmp_path, '--methods', 'baseline')
    runs = tool.plan_runs(args)
    tool.write_configs(args, runs)
    config = tool.config_of(args, runs[0])
    first = config.read_text()
    (args.work_dir / 'baseline').mkdir()  # outputs of that config
    tool.write_configs(args, runs)  # the same config: reused
    assert config.read_text() == first
    changed = args_for(tool, tmp_path, '--methods', 'baseline',
                       '--cfg-options', 'model.head.offset_loss.loss_weight=2')
    with pytest.raises(SystemExit, match='configs/baseline.py differs'):
        tool.write_configs(changed, tool.plan_runs(changed))
    assert config.read_text() == first
    # outputs made with another thread count are refused as well
    other = args_for(tool, tmp_path, '--methods', 'baseline', '--threads',
                     '2')
    with pytest.raises(SystemExit, match='made with --threads 1'):
        tool.write_configs(other, tool.plan_runs(other))
    assert config.with_suffix('.threads').read_text() == '1'
    (args.work_dir / 'baseline').rmdir()  # no outputs: rewritten
    tool.write_configs(changed, tool.plan_runs(changed))
    assert 'loss_weight=2' in config.read_text()


def test_data_settings_mismatch_is_refused(tmp_path):
    tool = load_tool()
    args = args_for(tool, tmp_path)
    (args.data_root / 'annotations').mkdir(parents=True)
    (args.data_root / 'annotations' / 'test.json').write_text('{}')
    (args.data_root / 'benchmark_settings.json').write_text(
        json.dumps(dict(seed=5, train_videos=1, test_videos=1, frames=10)))
    with pytest.raises(SystemExit, match='benchmark_settings.json'):
        tool.generate_data(args)


@pytest.mark.slow
def test_benchmark_end_to_end(tmp_path, synthetic_300vw):
    """Two rows for 2 iterations on the tiny embedded benchmark."""
    tool = load_tool()
    work = tmp_path / 'work'
    argv = [
        '--methods', 'baseline', 'tsal', '--iters', '2', '--data-root',
        str(synthetic_300vw), '--work-dir', str(work)
    ]
    options = [
        '--cfg-options', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False'
    ]
    text = tool.main(argv + options)
    assert 'supervised-only baseline | teacher' in text
    assert 'TSAL (teacher-student + SIC + MFDS) | student' in text
    for run, nets in (('baseline', ['teacher']),
                      ('tsal', ['teacher', 'student'])):
        assert (work / run / 'iter_2.pth').is_file()
        for net in nets:
            metrics = json.loads(
                (work / run / f'eval_{net}' / 'metrics.json').read_text())
            assert metrics['NME_inter_ocular'] > 0
            assert metrics['NME_inter_ocular_clor'] > 0  # p_C alone
    assert (work / 'ced.png').is_file()
    # a second call reuses everything; with another config it stops
    assert tool.main(argv + options) == text
    with pytest.raises(SystemExit, match='configs/baseline.py differs'):
        tool.main(argv)


def test_each_training_seed_gets_its_work_dir_and_seed(tmp_path):
    tool = load_tool()
    args = args_for(tool, tmp_path, '--train-seeds', '3', '4',
                    '--cfg-options', 'model.mu=0.5')
    assert args.train_seeds == [3, 4]
    sub = tool.seed_args(args, 4)
    assert sub.work_dir == args.work_dir / 'seed_4'
    assert sub.cfg_options == {'model.mu': 0.5, 'randomness.seed': 4}
    assert sub.train_seeds is None
    assert args.cfg_options == {'model.mu': 0.5}  # left as it was
    run = tool.plan_runs(sub)[0]
    cfg = tool.build_config(sub, run)
    assert cfg.randomness.seed == 4 and cfg.model.mu == 0.5
    # the data stay those of --seed
    assert sub.seed == args.seed == 0
    both = args_for(tool, tmp_path, '--train-seeds', '1', '--cfg-options',
                    'randomness.seed=2')
    with pytest.raises(SystemExit, match='both set the training seed'):
        tool.seed_args(both, 1)


@pytest.mark.slow
def test_train_seeds_end_to_end(tmp_path, synthetic_300vw):
    """The baseline for 2 iterations on two training seeds, summarised."""
    tool = load_tool()
    work = tmp_path / 'work'
    text = tool.main([
        '--methods', 'baseline', '--iters', '2', '--data-root',
        str(synthetic_300vw), '--work-dir', str(work), '--train-seeds', '0',
        '1', '--cfg-options', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False'
    ])
    nmes = []
    for seed in (0, 1):
        assert 'training seed ' + str(seed) in \
            (work / f'seed_{seed}' / 'results.md').read_text()
        metrics = json.loads((work / f'seed_{seed}' / 'baseline' /
                              'eval_teacher' / 'metrics.json').read_text())
        nmes.append(metrics['NME_inter_ocular'])
    assert nmes[0] != nmes[1]  # two seeds, two trainings
    assert (work / 'seeds.md').read_text() == text
    assert (work / 'seeds.png').is_file()
    row = next(line for line in text.splitlines()
               if line.startswith('| supervised-only baseline'))
    assert row.startswith(f'| supervised-only baseline | teacher | '
                          f'{nmes[0]:.2f} | {nmes[1]:.2f} | '
                          f'{(nmes[0] + nmes[1]) / 2:.2f} |')


def test_oversubscription_is_warned():
    tool = load_tool()
    assert tool.oversubscription_warning(2, 1, 2) is None
    assert tool.oversubscription_warning(1, 2, 2) is None
    warning = tool.oversubscription_warning(2, 2, 2)
    assert warning.startswith('warning: 2 jobs x 2 threads exceed the 2 cores')


def test_mixed_training_rows_and_their_configs(tmp_path):
    tool = load_tool()
    args = args_for(tool, tmp_path, '--methods', 'images_supervised',
                    'images_clips_tsal')
    runs = {r.name: r for r in tool.plan_runs(args)}
    assert tool.needs_image_set(list(runs.values()))
    assert not tool.needs_image_set(tool.plan_runs(args_for(tool, tmp_path)))
    assert runs['images_supervised'].networks == ['teacher']
    assert runs['images_clips_tsal'].networks == ['teacher', 'student']
    root = f'{tmp_path / "data"}/'
    images = tool.build_config(args, runs['images_supervised'])
    assert images.train_dataloader.dataset.type == 'Face300WDataset'
    assert images.train_dataloader.dataset.ann_file == \
        'annotations/stills_train.json'
    assert images.train_dataloader.dataset.data_root == root
    assert not images.model.two_networks  # the baseline variant
    mixed = tool.build_config(args, runs['images_clips_tsal'])
    loader = mixed.train_dataloader
    assert loader.sampler == dict(type='ExactMultiSourceSampler',
                                  batch_size=8, source_ratio=[4, 4])
    assert loader.batch_size == 8
    assert [d.data_root for d in loader.dataset.datasets] == [root, root]
    assert [d.type for d in loader.dataset.datasets] == [
        'Face300WDataset', 'Face300VWClipDataset']
    assert mixed.model.get('two_networks', True)  # TSAL: two networks
    assert mixed.train_cfg.max_iters == 140  # the schedule at --iters
    # the held-out stills through the run's own test pipeline
    stills = tool.image_test_dataloader(mixed, tmp_path / 'data')
    assert stills['dataset'] == dict(
        type='Face300WDataset', data_root=root, data_mode='topdown',
        ann_file='annotations/stills_test.json',
        data_prefix=dict(img='stills/'), test_mode=True,
        pipeline=mixed.test_dataloader.dataset.pipeline)
    assert stills['collate_fn'] == dict(type='clip_collate')
    tool.write_configs(args, list(runs.values()))
    for run in runs.values():
        text = tool.image_config_of(args, run).read_text()
        assert 'stills_test.json' in text
        assert tool.config_of(args, run).is_file()
    # data made without stills are not reused for the mixed rows
    (args.data_root / 'annotations').mkdir(parents=True)
    (args.data_root / 'annotations' / 'test.json').write_text('{}')
    (args.data_root / 'benchmark_settings.json').write_text(json.dumps(
        dict(seed=0, train_videos=12, test_videos=3, frames=100)))
    tool.generate_data(args)  # the video rows: the same settings
    with pytest.raises(SystemExit, match="'train_stills': 120"):
        tool.generate_data(args, stills=True)


def test_reports_of_the_mixed_rows(tmp_path):
    tool = load_tool()
    rows = []
    for run, net, video, still in (
            ('images_supervised', 'teacher', 10.0, 8.0),
            ('images_clips_tsal', 'teacher', 9.0, 7.0),
            ('images_clips_tsal', 'student', 9.5, 7.5)):
        row = _row(tool, run, net, video, 30.0)
        for mode in tool.MODES:
            row[f'NME_{mode}/images'] = still
        rows.append(row)
    assert tool.mixed_training_lines(rows) == [
        '- images_clips_tsal (teacher) against images only, supervised: '
        'NME io on the stills 7.00 vs 8.00 (12.5% lower); on the test '
        'videos 9.00 vs 10.00 (10.0% lower)'
    ]
    assert tool.mixed_training_lines(rows[1:]) == []
    rows[1]['NME_inter_ocular/images'] = 8.4
    assert 'on the stills 8.40 vs 8.00 (5.0% higher)' in \
        tool.mixed_training_lines(rows)[0]


def test_image_seed_summary_pairs_the_seeds(tmp_path):
    tool = load_tool()
    stills = {0: (8.0, 7.0), 1: (9.0, 9.9), 2: (10.0, 9.0)}
    dirs = []
    for seed, values in stills.items():
        work = tmp_path / f'seed_{seed}'
        for run, nme in zip(('images_supervised', 'images_clips_tsal'),
                            values):
            (work / 'configs').mkdir(parents=True, exist_ok=True)
            (work / 'configs' / f'{run}.py').write_text(
                f'randomness = dict(seed={seed})\n')
            folder = work / run / 'eval_teacher_images'
            folder.mkdir(parents=True)
            (folder / 'metrics.json').write_text(
                json.dumps({'NME_inter_ocular': nme}))
        dirs.append(work)
    text = tool.write_image_seed_summary(dirs, tmp_path / 'images_seeds.md')
    assert (tmp_path / 'images_seeds.md').read_text() == text
    lines = text.splitlines()
    assert '| images only, supervised | 8.00 | 9.00 | 10.00 | 9.00 | 1.00 |' \
        in lines
    assert '| images + clips, TSAL | 7.00 | 9.90 | 9.00 | 8.63 | 1.48 |' \
        in lines
    # 1 - 7/8, 1 - 9.9/9, 1 - 9/10: +12.5%, -10.0%, +10.0%; mean +4.2%
    assert '- images + clips, TSAL: seed 0 +12.5%, seed 1 -10.0%, seed 2 ' \
        '+10.0%; mean +4.2%, lower on 2 of 3 seeds' in lines


@pytest.mark.slow
def test_mixed_rows_end_to_end(tmp_path):
    """The two mixed rows for 2 iterations on a tiny generated benchmark
    with stills; both evaluated on the test videos and the stills."""
    tool = load_tool()
    work = tmp_path / 'work'
    text = tool.main([
        '--methods', 'images_supervised', 'images_clips_tsal', '--iters',
        '2', '--data-root', str(tmp_path / 'data'), '--work-dir', str(work),
        '--train-videos', '1', '--test-videos', '1', '--frames', '12',
        '--train-stills', '4', '--test-stills', '2', '--cfg-options',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False'
    ])
    assert 'stills NME io' in text
    assert '- images + clips, TSAL (teacher) against images only, ' \
        'supervised: NME io on the stills' in text
    for run, nets in (('images_supervised', ['teacher']),
                      ('images_clips_tsal', ['teacher', 'student'])):
        for net in nets:
            for folder in (f'eval_{net}', f'eval_{net}_images'):
                metrics = json.loads(
                    (work / run / folder / 'metrics.json').read_text())
                assert metrics['NME_inter_ocular'] > 0
    stills = json.loads((tmp_path / 'data' / 'annotations' /
                         'stills_test.json').read_text())
    assert len(stills['images']) == 2
    # the stills' test set has no video: no flicker
    metrics = json.loads((work / 'images_clips_tsal' /
                          'eval_teacher_images' / 'metrics.json').read_text())
    assert not any(key.startswith('NMF') for key in metrics)

"""tools/benchmark/seed_summary.py: the benchmark's rows over seeds."""
import json

import pytest

from tests.test_tools.tool_loader import load_script


def load_tool():
    return load_script('tools/benchmark/seed_summary.py')


def write_run(work_dir, run, seed, nets, threads=2, iters=900,
              data_root='data/bench/'):
    """A run as accuracy.py leaves it: config, thread count, metrics.

    ``nets`` maps a network to (NME io, AUC@0.08 io, p_M io, p_C io); the
    flicker NMF io is set to half the NME.
    """
    configs = work_dir / 'configs'
    configs.mkdir(parents=True, exist_ok=True)
    (configs / f'{run}.py').write_text(
        f'randomness = dict(seed={seed})\n'
        f'train_cfg = dict(max_iters={iters})\n'
        f'train_dataloader = dict(dataset=dict(data_root={data_root!r}))\n')
    (configs / f'{run}.threads').write_text(str(threads))
    for net, (nme, auc, p_m, p_c) in nets.items():
        folder = work_dir / run / f'eval_{net}'
        folder.mkdir(parents=True)
        (folder / 'metrics.json').write_text(json.dumps({
            'NME_inter_ocular': nme, 'AUC@0.08_inter_ocular': auc,
            'NMF_inter_ocular': nme / 2,
            'NME_inter_ocular_lhr': p_m, 'NME_inter_ocular_clor': p_c}))


def bench(tmp_path, seed, baseline, teacher, student, mean_teacher,
          threads=2):
    work_dir = tmp_path / f'seed{seed}'
    write_run(work_dir, 'baseline', seed, {'teacher': baseline}, threads)
    write_run(work_dir, 'tsal', seed,
              {'teacher': teacher, 'student': student}, threads)
    write_run(work_dir, 'mean_teacher', seed,
              {'teacher': mean_teacher, 'student': student}, threads)
    return work_dir


def test_means_std_and_targets_per_seed(tmp_path):
    tool = load_tool()
    dirs = [
        bench(tmp_path, 0, (7.0, 20.0, 7.5, 7.2), (6.0, 30.0, 6.5, 7.0),
              (6.1, 29.0, 6.6, 7.1), (6.5, 25.0, 7.0, 7.5)),
        bench(tmp_path, 1, (7.4, 22.0, 7.9, 7.6), (6.8, 26.0, 7.3, 7.4),
              (6.7, 27.0, 7.2, 7.3), (6.9, 27.0, 7.4, 7.9), threads=1),
    ]
    out = tmp_path / 'summary' / 'seeds.md'
    text = tool.main([str(d) for d in dirs] + ['--out', str(out)])
    assert out.read_text() == text
    assert out.with_suffix('.png').stat().st_size > 0
    assert 'training seeds 0, 1' in text
    assert '2 (seed 0), 1 (seed 1)' in text
    lines = text.splitlines()
    # table order: baseline, Mean Teacher, TSAL (accuracy.METHODS order)
    rows = [line for line in lines if line.startswith('| ') and
            not line.startswith('| row')]
    assert [r.split(' | ')[0] for r in rows] == [
        '| supervised-only baseline', '| Mean Teacher (v=1, lambda=0.999)',
        '| Mean Teacher (v=1, lambda=0.999)',
        '| TSAL (teacher-student + SIC + MFDS)',
        '| TSAL (teacher-student + SIC + MFDS)']
    # baseline: mean (7.0 + 7.4) / 2 = 7.2, sample std 0.4 / sqrt(2) = 0.28
    assert rows[0] == ('| supervised-only baseline | teacher | 7.00 | 7.40 '
                       '| 7.20 | 0.28 | 21.00 | 3.60 | 7.70 / 7.40 |')
    # TSAL teacher: mean 6.4, std 0.8 / sqrt(2) = 0.57; AUC 28, NMF 3.2,
    # p_M 6.9
    assert rows[3] == ('| TSAL (teacher-student + SIC + MFDS) | teacher | '
                       '6.00 | 6.80 | 6.40 | 0.57 | 28.00 | 3.20 | '
                       '6.90 / 7.20 |')
    targets = [line for line in lines if line.startswith('- ')]
    # 1 - 6.4 / 7.2 = 11.1%; seed 0: 14.3% (met), seed 1: 8.1% (not met)
    assert targets[0] == ('- TSAL teacher NME 6.40 vs supervised-only 7.20: '
                          '11.1% lower (target >= 10%): met (met on 1 of 2 '
                          'seeds alone)')
    # Mean Teacher mean 6.7: below it on both seeds
    assert targets[1].endswith('met (met on 2 of 2 seeds alone)')
    # the student's mean is 6.4 as well: ahead on seed 0 only
    assert targets[2] == ('- TSAL teacher NME 6.4000 better than its student '
                          '(6.4000): NOT met (met on 1 of 2 seeds alone)')
    # AUC 28 against 26 (Mean Teacher); seed 1: 26 < 27, not met
    assert targets[3].endswith(
        '(best 26.00): met (met on 1 of 2 seeds alone)')


def test_inconsistent_inputs_are_refused_with_the_files_named(tmp_path):
    tool = load_tool()
    row = (7.0, 20.0, 7.5, 7.2)
    first = bench(tmp_path, 0, row, row, row, row)
    # the same seed twice
    again = tmp_path / 'again'
    write_run(again, 'baseline', 0, {'teacher': row})
    with pytest.raises(tool.SummaryError, match='in both .*seed0 and .*again'):
        tool.main([str(first), str(again)])
    # another budget is another experiment
    longer = tmp_path / 'longer'
    write_run(longer, 'baseline', 1, {'teacher': row}, iters=2700)
    with pytest.raises(tool.SummaryError,
                       match=r'baseline.py differ in `train_cfg.max_iters`'):
        tool.main([str(first), str(longer)])
    # rows run on other seeds than the rest
    partial = tmp_path / 'partial'
    write_run(partial, 'baseline', 1, {'teacher': row})
    with pytest.raises(tool.SummaryError,
                       match=r"'mean_teacher' \(teacher\) lacks seed\(s\) 1"):
        tool.main([str(first), str(partial)])
    # a run that has not been evaluated
    unfinished = tmp_path / 'unfinished'
    write_run(unfinished, 'tsal', 2, {})
    with pytest.raises(tool.SummaryError,
                       match=r'unfinished/tsal/eval_teacher/metrics.json'):
        tool.main([str(unfinished)])
    with pytest.raises(tool.SummaryError, match='no configs'):
        tool.main([str(tmp_path / 'empty')])

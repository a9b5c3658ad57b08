"""tools/benchmark/label_efficiency.py: convergence, NME against the
labelled fraction, the headline and the targets."""
import json
import math

import pytest

from tests.test_tools.tool_loader import load_script


def load_tool():
    return load_script('tools/benchmark/label_efficiency.py')


def write_run(work_dir, run, seed, stride, iters, nets):
    """A run as accuracy.py leaves it; ``nets`` maps a network to its NME
    io (NMF io is half of it)."""
    configs = work_dir / 'configs'
    configs.mkdir(parents=True, exist_ok=True)
    (configs / f'{run}.py').write_text(
        f'randomness = dict(seed={seed})\n'
        f'train_cfg = dict(max_iters={iters})\n'
        'train_dataloader = dict(dataset=dict(data_root="d/", '
        f'label_stride={stride}))\n')
    (configs / f'{run}.threads').write_text('1')
    for net, nme in nets.items():
        folder = work_dir / run / f'eval_{net}'
        folder.mkdir(parents=True)
        (folder / 'metrics.json').write_text(json.dumps({
            'NME_inter_ocular': nme, 'NMF_inter_ocular': nme / 2,
            'easy/NME_inter_ocular': nme - 1,
            'hard/NME_inter_ocular': nme + 1}))


@pytest.fixture
def work_dirs(tmp_path):
    dirs = []
    for seed, (b10, b30, t10, s10, t30) in enumerate(
            [(10.0, 12.0, 9.4, 9.6, 10.4), (11.0, 13.0, 9.6, 9.8, 10.6)]):
        s10_dir, s30_dir = tmp_path / f's10_{seed}', tmp_path / f's30_{seed}'
        write_run(s10_dir, 'baseline', seed, 10, 2400, {'teacher': b10})
        write_run(s10_dir, 'all_labelled', seed, 1, 2400, {'teacher': 9.0})
        write_run(s10_dir, 'tsal', seed, 10, 2400,
                  {'teacher': t10, 'student': s10})
        write_run(s30_dir, 'baseline', seed, 30, 2400, {'teacher': b30})
        write_run(s30_dir, 'tsal', seed, 30, 2400,
                  {'teacher': t30, 'student': t30 + 0.5})
        dirs += [s10_dir, s30_dir]
    short = tmp_path / 'short'  # the convergence runs of seed 0
    write_run(short, 'baseline', 0, 10, 1200, {'teacher': 10.8})
    write_run(short, 'all_labelled', 0, 1, 1200, {'teacher': 9.2})
    return dirs + [short]


def test_interpolate_stride():
    tool = load_tool()
    curve = [(1, 9.0), (10, 10.5), (30, 12.5)]
    # a third of the way from 9.0 to 10.5 in log stride: 10 ** (1 / 3)
    assert tool.interpolate_stride(curve, 9.5) == pytest.approx(10**(1 / 3))
    assert tool.interpolate_stride(curve, 10.5) == pytest.approx(10.0)
    assert tool.interpolate_stride(curve, 11.5) == pytest.approx(
        math.exp(0.5 * math.log(10) + 0.5 * math.log(30)))
    assert tool.interpolate_stride(curve, 8.0) is None


def test_tables_headline_and_targets(work_dirs, tmp_path):
    tool = load_tool()
    out = tmp_path / 'le' / 'le.md'
    text = tool.main([str(d) for d in work_dirs] + ['--out', str(out)])
    assert out.read_text() == text
    assert out.with_suffix('.png').stat().st_size > 0
    lines = text.splitlines()
    # convergence: seed 0, both budgets; (10.8 - 10.0) / 10.8 = 7.4%
    assert '| supervised-only baseline | teacher | 10 | 10.80 | 10.00 |' \
        in lines
    assert ('Baseline (stride 10) gain between doublings: 1200 -> 2400: '
            '+7.4%; converged when below 1%.') in lines
    assert 'Not converged at the budgets measured.' in lines
    assert (out.parent / 'le_convergence.png').stat().st_size > 0
    assert '## Label efficiency (2400 iterations)' in lines
    # means over seeds 0 and 1; std of (10, 11) = 0.71; NMF half the NME
    assert ('| supervised-only baseline | teacher | 10 | 1/10 | 0, 1 | '
            '10.50 | 0.71 | 5.25 | 9.50 | 11.50 |') in lines
    assert ('| TSAL (teacher-student + SIC + MFDS) | student | 10 | 1/10 | '
            '0, 1 | 9.70 | 0.14 | 4.85 | 8.70 | 10.70 |') in lines
    # the baseline's curve: (1, 9.0), (10, 10.5), (30, 12.5)
    assert ('- TSAL teacher at stride 10 (9.50) matches the baseline at '
            'stride 2.2.') in lines
    assert ('- TSAL teacher at stride 30 (10.50) matches the baseline at '
            'stride 10.0.') in lines
    # (10.5 - 9.5) / 10.5 = 9.5%; (9.5 - 9.0) / 9.0 = 5.6%
    assert ('- TSAL teacher at least 10% below the baseline: 9.5% '
            '(not met)') in lines
    assert ('- TSAL teacher at least as good as its student: 9.5000 vs 9.7000 '
            '(met)') in lines
    assert ('- TSAL within 2% of the every-frame reference: +5.6% '
            '(not met)') in lines
    assert ('- TSAL flicker below the baseline\'s: NMF 4.75 vs 5.25 (met)'
            ) in lines
    assert any(line.startswith('- (data) every-frame reference below the '
                               'stride-10 baseline by 14.3%')
               for line in lines)


def test_targets_need_tsal_and_the_baseline(tmp_path):
    tool = load_tool()
    only = tmp_path / 'mmpose'
    write_run(only, 'mmpose_heatmap', 0, 10, 2400, {'model': 10.2})
    lines = tool.main([str(only)]).splitlines()
    heading = lines.index('Targets (stride 10, on the means):')
    assert lines[heading + 2] == ('- none checked: they need the TSAL and '
                                  'supervised-only baseline rows at stride 10')


def test_the_headline_names_only_the_rows_it_has(tmp_path):
    tool = load_tool()
    both = tmp_path / 'both'
    write_run(both, 'baseline', 0, 10, 2400, {'teacher': 10.0})
    write_run(both, 'tsal', 0, 10, 2400, {'teacher': 9.0, 'student': 9.1})
    lines = tool.main([str(both)]).splitlines()
    # no every-frame reference among the rows: the sentence does not claim it
    assert ('- TSAL teacher at stride 10 (9.00) is better than every '
            'baseline point.') in lines
    alone = tmp_path / 'alone'
    write_run(alone, 'tsal', 0, 10, 2400, {'teacher': 9.0, 'student': 9.1})
    lines = tool.main([str(alone)]).splitlines()
    assert ('- No supervised-only baseline row: TSAL is not matched to a '
            'baseline stride.') in lines
    assert not any('worse than every baseline point' in line
                   for line in lines)


def test_a_row_of_one_seed_twice_is_refused(work_dirs, tmp_path):
    tool = load_tool()
    again = tmp_path / 'again'
    write_run(again, 'baseline', 0, 10, 2400, {'teacher': 10.0})
    with pytest.raises(tool.SummaryError, match='in both'):
        tool.main([str(d) for d in work_dirs] + [str(again)])


def test_converged_budget():
    tool = load_tool()
    # gains: (12 - 11) / 12 = 8.3%, (11 - 10.9) / 11 = 0.9%
    assert tool.converged_budget({1200: 12.0, 2400: 11.0, 4800: 10.9}) == 2400
    # a loss counts as no gain; 1.5% is not below 1%
    assert tool.converged_budget({1200: 10.0, 2400: 10.2}) == 1200
    assert tool.converged_budget({1200: 10.0, 2400: 9.85}) is None
    # only doublings decide: 1200 -> 4800 skips one
    assert tool.converged_budget({1200: 10.0, 4800: 10.0}) is None


def test_a_given_budget_names_the_rows_left_out(work_dirs, tmp_path):
    tool = load_tool()
    text = tool.main([str(d) for d in work_dirs] + ['--budget', '1200'])
    lines = text.splitlines()
    assert '## Label efficiency (1200 iterations)' in lines
    assert ('| supervised-only baseline | teacher | 10 | 1/10 | 0 | '
            '10.80 | - | 5.40 | 9.80 | 11.80 |') in lines
    assert ('Left out (not trained for 1200 iterations): baseline teacher '
            'stride 30, tsal student stride 10, tsal student stride 30, '
            'tsal teacher stride 10, tsal teacher stride 30.') in lines
    with pytest.raises(tool.SummaryError, match='no row was trained for 999'):
        tool.main([str(d) for d in work_dirs] + ['--budget', '999'])


def test_plot_colours_one_per_method_in_table_order():
    tool = load_tool()
    # a teacher and its student share a colour; methods take them in the
    # order of the tables (accuracy.METHODS), unknown names last
    colours = tool._colours(
        ['tsal', 'zzz', 'baseline', 'tsal', 'mean_teacher'])
    assert colours == {'baseline': 'C0', 'mean_teacher': 'C1', 'tsal': 'C2',
                       'zzz': 'C3'}


def write_curve(work_dir, run, points):
    """``RUN/curve.json`` as accuracy.py's --curve-points leaves it;
    ``points`` maps a network to {iteration: NME io}."""
    (work_dir / run / 'curve.json').write_text(json.dumps([
        dict(iter=it, network=net, metrics=dict(NME_inter_ocular=nme))
        for net, values in points.items() for it, nme in values.items()]))


def test_learning_curves_of_one_seed(work_dirs, tmp_path):
    tool = load_tool()
    s10 = tmp_path / 's10_0'
    write_curve(s10, 'baseline', {'teacher': {1200: 11.0, 2400: 10.0}})
    write_curve(s10, 'tsal', {'teacher': {1200: 9.9, 2400: 9.4},
                              'student': {1200: 10.2, 2400: 9.6}})
    write_curve(tmp_path / 's10_1', 'tsal', {'teacher': {2400: 1.0}})
    out = tmp_path / 'le' / 'le.md'
    lines = tool.main([str(d) for d in work_dirs] +
                      ['--out', str(out)]).splitlines()
    # seeds 0 and 1 have five rows each at 2,400: the smaller seed
    assert '## Learning curves (training seed 0, 2400 iterations)' in lines
    assert '| row | network | stride | 1200 it | 2400 it |' in lines
    assert '| supervised-only baseline | teacher | 10 | 11.00 | 10.00 |' \
        in lines
    assert ('| TSAL (teacher-student + SIC + MFDS) | teacher | 10 | 9.90 | '
            '9.40 |') in lines
    assert ('| TSAL (teacher-student + SIC + MFDS) | student | 10 | 10.20 | '
            '9.60 |') in lines
    assert not any('| 1.00 |' in line for line in lines)  # seed 1's
    assert ('No learning curve (trained without --curve-points): '
            f'`{s10 / "all_labelled"}`, `{tmp_path / "s30_0" / "baseline"}`, '
            f'`{tmp_path / "s30_0" / "tsal"}`.') in lines
    assert (out.parent / 'le_curves.png').stat().st_size > 0

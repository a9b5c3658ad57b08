"""tools/analysis/training_losses.py: logged scalars of resumed runs, the
table's cells and the errors that name the bad run."""
import json

import pytest

from tests.test_tools.tool_loader import load_script


def load_tool():
    return load_script('tools/analysis/training_losses.py')


def write_scalars(run, timestamp, records):
    folder = run / timestamp / 'vis_data'
    folder.mkdir(parents=True)
    (folder / 'scalars.json').write_text(
        '\n'.join(json.dumps(r) for r in records) + '\n')


def make_runs(tmp_path):
    """Run a: logged at 10, 20, 30, resumed at 20 (second start wins);
    run b: logged at 10 and 20 only; an evaluation record without loss."""
    a = tmp_path / 'a'
    write_scalars(a, '20261206_010000', [
        dict(step=10, loss=4.0, flow=0.5),
        dict(step=20, loss=3.0, flow=0.4),
    ])
    write_scalars(a, '20261206_020000', [
        dict(step=20, loss=2.5, flow=0.3),
        dict(step=30, loss=2.0, flow=0.2),
        dict(step=30, NME=9.7),
    ])
    b = tmp_path / 'b'
    write_scalars(b, '20261206_010000', [
        dict(step=10, loss=5.0, flow=0.9),
        dict(step=20, loss=6.0, flow=0.8),
    ])
    return a, b


def test_later_start_overrides_and_evaluation_records_are_skipped(tmp_path):
    tool = load_tool()
    a, _ = make_runs(tmp_path)
    scalars = tool.load_scalars(a)
    assert sorted(scalars) == [10, 20, 30]
    assert scalars[20] == dict(loss=2.5, flow=0.3)
    assert scalars[30] == dict(loss=2.0, flow=0.2)
    assert tool.series(scalars, 'flow', a) == {10: 0.5, 20: 0.3, 30: 0.2}


def test_table_cells_end_with_each_run(tmp_path, capsys):
    tool = load_tool()
    a, b = make_runs(tmp_path)
    out = tmp_path / 'plot.png'
    text = tool.main([str(a), str(b), '--labels', 'A', 'B', '--keys', 'loss',
                      '--every', '20', '--log-y', '--out', str(out)])
    assert text.splitlines() == [
        '| iteration | A: loss | B: loss |',
        '|---|---|---|',
        '| 20 | 2.5 | 6 |',
        '| 30 | 2 | - |',  # b ended at 20: not carried on
    ]
    assert out.stat().st_size > 0
    assert capsys.readouterr().out.strip() == text


def test_errors_name_the_run(tmp_path):
    tool = load_tool()
    a, b = make_runs(tmp_path)
    with pytest.raises(KeyError, match=r"a: no 'photometric' logged; it has "
                       'flow, loss'):
        tool.main([str(a), '--keys', 'photometric'])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='empty: no '):
        tool.main([str(empty)])
    with pytest.raises(SystemExit, match='need 2 different labels'):
        tool.main([str(a), str(b), '--labels', 'same', 'same'])

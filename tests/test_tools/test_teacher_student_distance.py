"""tools/analysis/teacher_student_distance.py: hand-computed distances."""
import json
import math

import pytest
import torch

from tests.test_tools.tool_loader import load_script


def load_tool():
    return load_script('tools/analysis/teacher_student_distance.py')


def state_dict():
    return {
        'teacher.backbone.w': torch.tensor([3.0, 4.0]),
        'student.backbone.w': torch.tensor([0.0, 4.0]),
        'teacher.backbone.bn.num_batches_tracked': torch.tensor(7),
        'student.backbone.bn.num_batches_tracked': torch.tensor(9),
        'teacher.head.b': torch.tensor([1.0]),
        'student.head.b': torch.tensor([2.0]),
        'data_preprocessor.mean': torch.tensor([5.0]),
    }


def test_relative_distances_by_hand():
    tool = load_tool()
    d = tool.relative_distances(state_dict())
    # backbone: sqrt(3^2 / (0^2 + 4^2)); head: sqrt(1 / 4); integer buffers
    # and tensors of neither network are left out
    assert list(d) == ['backbone', 'head', 'all']
    assert d['backbone'] == pytest.approx(0.75)
    assert d['head'] == pytest.approx(0.5)
    assert d['all'] == pytest.approx(math.sqrt((9 + 1) / (16 + 4)))


def test_identical_networks_are_at_distance_zero():
    tool = load_tool()
    sd = state_dict()
    sd['teacher.backbone.w'] = sd['student.backbone.w'].clone()
    sd['teacher.head.b'] = sd['student.head.b'].clone()
    assert tool.relative_distances(sd) == dict(backbone=0.0, head=0.0,
                                               all=0.0)


def test_errors_name_the_problem():
    tool = load_tool()
    sd = state_dict()
    del sd['student.head.b']
    with pytest.raises(ValueError, match='teacher.head.b'):
        tool.relative_distances(sd)
    with pytest.raises(ValueError, match='not a two-network'):
        tool.relative_distances({'backbone.w': torch.ones(2)})


def test_main_on_checkpoints(tmp_path, capsys):
    tool = load_tool()
    a, b = tmp_path / 'iter_10.pth', tmp_path / 'other.pth'
    torch.save(dict(state_dict=state_dict(), meta=dict(iter=10)), a)
    sd = state_dict()
    sd['teacher.backbone.w'] = torch.tensor([0.0, 5.0])  # sqrt(1 / 16)
    torch.save(dict(state_dict=sd, meta={}), b)
    out = tmp_path / 'd.json'
    table = tool.main([str(a), str(b), '--out', str(out)])
    assert table.splitlines()[2] == f'| {a} | 10 | 0.75 | 0.5 | 0.707 |'
    assert table.splitlines()[3] == \
        f'| {b} |  | 0.25 | 0.5 | {math.sqrt(2 / 20):.3g} |'
    assert table in capsys.readouterr().out
    rows = json.loads(out.read_text())
    assert [r['iteration'] for r in rows] == [10, None]
    assert rows[0]['distance']['backbone'] == pytest.approx(0.75)
    with pytest.raises(SystemExit, match='no such checkpoint'):
        tool.main([str(tmp_path / 'missing.pth')])
    torch.save(dict(state_dict={'backbone.w': torch.ones(1)}), b)
    with pytest.raises(SystemExit, match='other.pth: no `teacher'):
        tool.main([str(b)])

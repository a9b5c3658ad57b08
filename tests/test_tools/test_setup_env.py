"""Tests of tools/setup_env.py that need no network or compiler."""
import pytest

from tests.test_tools.tool_loader import load_script

setup_env = load_script('tools/setup_env.py')


class _Stop(Exception):
    """Raised by the fake ``run`` to end ``build_mmcv`` after one step."""


def test_build_setuptools_conflicts_with_the_venv_pin():
    pins, setup = setup_env.read_pins()
    name, _, version = setup['mmcv-build-setuptools'].partition('==')
    assert name == 'setuptools'
    # mmcv's setup.py needs pkg_resources (setuptools < 70), torch needs
    # setuptools >= 77: the two can never share one constraints file.
    assert int(version.split('.')[0]) < 70
    assert int(pins['setuptools'].split('.')[0]) >= 77


def test_build_setuptools_is_installed_outside_the_pins(monkeypatch,
                                                         tmp_path):
    commands = []

    def fake_run(cmd, what, **kwargs):
        commands.append((cmd, what))
        raise _Stop

    def fake_py_out(code):
        if 'version_info' in code:
            return '311'
        if 'torch.__version__' in code:
            return '2.14.1'
        return ''  # no -std flag in the source: c++17

    monkeypatch.setattr(setup_env, 'run', fake_run)
    monkeypatch.setattr(setup_env, 'py_out', fake_py_out)
    monkeypatch.setattr(setup_env, 'CACHE', tmp_path / 'cache')
    monkeypatch.setattr(setup_env.tempfile, 'mkdtemp',
                        lambda prefix: str(tmp_path / 'work'))
    with pytest.raises(_Stop):
        setup_env.build_mmcv('2.1.0', 'setuptools==69.5.1')

    (cmd, what), = commands
    assert what == 'install setuptools==69.5.1 for the mmcv build'
    assert cmd[-1] == 'setuptools==69.5.1'
    assert '-c' not in cmd
    assert cmd[cmd.index('--target') + 1] == str(tmp_path / 'work' /
                                                 'buildtools')
    # every other pip call keeps the constraints
    assert setup_env.pip('install', 'x')[-2:] == ['-c',
                                                  str(setup_env.CONSTRAINTS)]


def test_cached_wheel_skips_the_build(monkeypatch, tmp_path):
    cache = tmp_path / 'cache' / 'py311-torch2.14.1'
    cache.mkdir(parents=True)
    wheel = cache / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'
    wheel.write_bytes(b'')
    monkeypatch.setattr(setup_env, 'CACHE', tmp_path / 'cache')
    monkeypatch.setattr(
        setup_env, 'py_out',
        lambda code: '311' if 'version_info' in code else '2.14.1')
    monkeypatch.setattr(setup_env, 'run',
                        lambda *a, **k: pytest.fail('nothing to run'))
    assert setup_env.build_mmcv('2.1.0', 'setuptools==69.5.1') == wheel

"""Importing the scripts under tools/ in tests."""
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load_script(relpath: str) -> ModuleType:
    """Import a script of the repository as a module.

    The module is named after its path (``tools/benchmark/speed.py`` ->
    ``tools_benchmark_speed``: script names may start with a digit) and
    registered in ``sys.modules`` before it runs, as an import would, so
    that its dataclasses can look their module up.

    Args:
        relpath (str): The script's path from the repository root.

    Returns:
        ModuleType: The executed module.
    """
    path = REPO / relpath
    name = re.sub(r'\W', '_', str(Path(relpath).with_suffix('')))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

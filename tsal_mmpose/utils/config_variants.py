"""Apply a variant config (e.g. an ablation row) to another base config.

The ablation configs in ``configs/ablations/`` each inherit
``configs/tsal_hrnet_300vw.py`` and set a few keys (which losses, one or two
networks, the teacher hook). Benchmarks run the same rows on a smaller base
(``configs/tsal_tiny_synthetic.py``): :func:`variant_overrides` reads the
keys a variant file sets itself, and :func:`apply_variant` merges them into
any config, so each row is defined once.
"""
import ast
from pathlib import Path
from typing import Union

from mmengine.config import Config

__all__ = ['variant_overrides', 'apply_variant']


def variant_overrides(path: Union[str, Path]) -> dict:
    """The settings a config file makes itself, without its ``_base_``.

    Args:
        path (str | Path): A config file whose statements do not refer to
            ``_base_`` variables.

    Returns:
        dict: The file's own top-level keys (nested dicts are partial and
        meant to be merged).

    Raises:
        ValueError: if the file refers to ``_base_`` beyond its assignment.
    """
    path = Path(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    body = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            continue
        body.append(node)
    module = ast.Module(body=body, type_ignores=[])
    if any(isinstance(n, ast.Name) and n.id == '_base_'
           for n in ast.walk(module)):
        raise ValueError(f'{path}: a variant may not refer to _base_ values')
    return Config.fromstring(ast.unparse(module), '.py').to_dict()


def apply_variant(cfg: Config, path: Union[str, Path]) -> Config:
    """Merge the settings of variant file ``path`` into ``cfg`` (in place).

    Dicts are merged key by key; lists (e.g. ``custom_hooks``) are replaced.

    Args:
        cfg (Config): The config to change.
        path (str | Path): The variant config file.

    Returns:
        Config: ``cfg``.
    """
    for key, value in variant_overrides(path).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg.merge_from_dict({key: value})
        else:
            cfg[key] = value
    return cfg

"""README.md: a user's document whose commands, links and config work."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpose.registry import DATASETS, MODELS

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / 'README.md'
DOCS = [README, REPO_ROOT / 'projects_readme.md',
        *sorted((REPO_ROOT / 'docs').rglob('*.md'))]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r'```python\n(.*?)```', text, flags=re.S)


def test_readme_is_short_and_names_the_quick_start():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    quick = text.split('## Quick start', 1)[1].split('\n## ', 1)[0]
    assert '```bash\nmake demo\nmake test\n```' in quick
    makefile = (REPO_ROOT / 'Makefile').read_text()
    assert re.search(r'^demo:', makefile, flags=re.M)
    assert re.search(r'^test:', makefile, flags=re.M)
    # CI runs the README's test command
    assert 'make test' in (REPO_ROOT / '.ci' / 'run').read_text()


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_relative_links_exist(doc):
    missing = []
    for target in re.findall(r'\]\(([^)#]+)(?:#[^)]*)?\)', doc.read_text()):
        if re.match(r'[a-z]+://', target):
            continue
        if not (doc.parent / target).exists():
            missing.append(target)
    assert not missing, f'{doc.name} links to missing files: {missing}'


def test_paths_in_readme_commands_exist():
    text = README.read_text()
    blocks = ''.join(re.findall(r'```(?:bash)?\n(.*?)```', text, flags=re.S))
    paths = set(re.findall(r'(?<![\w/.])((?:configs|tools|tests)/[\w./-]+'
                           r'\.(?:py|npy|sh))', blocks + text))
    assert paths, 'no repository paths found in the README'
    missing = sorted(p for p in paths if not (REPO_ROOT / p).exists())
    assert not missing, f'README names missing files: {missing}'


def test_tsal_head_config_snippet_trains_and_predicts(tmp_path, faces_dir):
    """The README's "TSALHead in your own mmpose config" block, as written."""
    snippet, = [b for b in _python_blocks(README.read_text())
                if "type='TSALHead'" in b]
    path = tmp_path / 'my_config.py'
    path.write_text(snippet)
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'TopdownPoseEstimator'
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = DATASETS.build(dict(
            cfg.train_dataloader.dataset, data_root=str(faces_dir / '300w'),
            ann_file='test_300w.json', data_prefix=dict(img='')))
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    data = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]),
                                   training=True)
    losses = model.loss(**data)
    names = ' '.join(losses)
    assert 'heatmap' in names and 'center' in names and 'offset' in names
    for name, value in losses.items():
        if name.startswith('loss'):
            assert torch.isfinite(value).all() and value > 0, name
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate([dataset[0]]))
        sample, = model.predict(**data)
    assert sample.pred_instances.keypoints.shape == (1, 68, 2)

"""Synthetic 300VW generator: warping, determinism, splits, round trip."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tsal_mmpose.datasets.converters import read_pts
from tsal_mmpose.datasets.synthetic import (IBUG68_FLIP_INDICES, PROFILES,
                                            STILL_SPLITS, TEST_IDENTITIES,
                                            TRAIN_IDENTITIES, WFLW98_TO_68,
                                            GeneratorConfig, MeshWarper,
                                            SyntheticSources,
                                            generate_benchmark,
                                            load_source_faces, make_renderer,
                                            make_track, plan_stills,
                                            plan_videos,
                                            similarity_transform)

from tests.test_tools.tool_loader import load_script

TINY = dict(train_videos=1, test_easy_videos=1, test_hard_videos=1,
            frames=4, width=96, height=80)


def test_ibug_flip_indices():
    flip = IBUG68_FLIP_INDICES
    assert sorted(flip) == list(range(68))
    assert all(flip[flip[i]] == i for i in range(68))
    assert (flip[0], flip[8], flip[17], flip[30], flip[36], flip[39]) == (
        16, 8, 26, 30, 45, 42)
    assert (flip[48], flip[51], flip[57], flip[60], flip[62], flip[66]) == (
        54, 51, 57, 64, 62, 66)


def test_wflw_to_68_mapping(faces_dir):
    w = WFLW98_TO_68
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert w[0, 0] == w[8, 16] == w[16, 32] == 1        # jaw, every 2nd
    assert w[17, 33] == w[26, 46] == w[30, 54] == 1     # brows, nose tip
    assert w[36, 60] == w[39, 64] == w[42, 68] == w[45, 72] == 1
    np.testing.assert_allclose(w[37, [61, 62]], [2 / 3, 1 / 3])
    np.testing.assert_allclose(w[41, [66, 67]], [1 / 3, 2 / 3])
    assert w[48, 76] == w[59, 87] == w[60, 88] == w[67, 95] == 1
    assert w[:, 96:].sum() == 0                         # pupils unused
    faces = {f.identity: f for f in load_source_faces(faces_dir,
                                                      ['wflw/2'])}
    pts = faces['wflw/2'].points
    ref = json.loads((faces_dir / 'wflw' / 'test_wflw.json').read_text())
    raw = np.array([a for a in ref['annotations'] if a['id'] == 2][0]
                   ['keypoints']).reshape(-1, 3)[:, :2]
    np.testing.assert_allclose(pts[0], raw[0])
    np.testing.assert_allclose(pts[37], raw[61] * 2 / 3 + raw[62] / 3)


def test_source_faces(faces_dir):
    faces = load_source_faces(faces_dir)
    assert [f.name for f in faces] == [
        '300w/indoor_029', 'wflw/2', 'wflw/12', 'wflw/1169',
        '300vw/401/000731', '300vw/401/000732', '300w/indoor_020',
        'wflw/40', '300vw/001/000006', '300vw/001/000009']
    vw = faces[4]
    np.testing.assert_allclose(vw.points[0], [353.32681, 276.170196])
    assert set(TRAIN_IDENTITIES).isdisjoint(TEST_IDENTITIES)
    with pytest.raises(KeyError, match='unknown source identities'):
        load_source_faces(faces_dir, ['aflw/3'])


def test_similarity_transform():
    src = np.array([[0., 0.], [10., 0.], [0., 5.], [3., 7.]])
    angle, scale, shift = 0.3, 1.7, np.array([5., -2.])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)],
                            [np.sin(angle), np.cos(angle)]])
    m = similarity_transform(src, src @ rot.T + shift)
    np.testing.assert_allclose(m, np.hstack([rot, shift[:, None]]),
                               atol=1e-12)


def test_mesh_warper_vertices_land_exactly():
    """A coordinate texture warped onto moved vertices: each target vertex
    pixel samples its texture vertex (to cv2.remap's 1/32 px sampling
    grid); no hole inside the mesh."""
    size = 64
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    texture = np.dstack([xs, ys, np.full_like(xs, 255)])
    rng = np.random.default_rng(0)
    ring = 32 + 28 * np.stack([np.cos(np.linspace(0, 2 * np.pi, 12, False)),
                               np.sin(np.linspace(0, 2 * np.pi, 12,
                                                  False))], 1)
    inner = rng.uniform(18, 46, (10, 2))
    src = np.concatenate([ring, inner])
    warper = MeshWarper(texture, src)
    dst = np.round(src * 1.3 + rng.uniform(-2, 2, src.shape) + 5)
    assert not warper.folded(dst).any()
    patch, x0, y0 = warper.render(dst, (100, 100))
    for (u, v), (x, y) in zip(src, dst.astype(int)):
        np.testing.assert_allclose(patch[y - y0, x - x0, :2], (u, v),
                                   atol=1 / 64 + 1e-4)
    flipped = dst.copy()
    flipped[12] = 2 * dst[:12].mean(0) - dst[12]         # mirror a vertex
    assert warper.folded(flipped).any()
    hull = np.zeros((100, 100), np.uint8)
    cv2.fillConvexPoly(hull, dst[:12].astype(np.int32), 1)
    hull = cv2.erode(hull, np.ones((3, 3), np.uint8))
    full = np.zeros((100, 100), np.float32)
    full[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = patch[..., 2]
    assert (full[hull > 0] == 255).all()


def test_plan_disjoint_sources(faces_dir):
    config = GeneratorConfig(train_videos=30, test_easy_videos=15,
                             test_hard_videos=15, frames=5)
    sources = SyntheticSources(faces_dir, config)
    specs = plan_videos(config, sources.images_of)
    assert [s.video_id for s in specs][:3] == ['001', '002', '003']
    split_of = {name: f.identity for name, f in sources.faces.items()}
    used = {'train': set(), 'test': set()}
    for s in specs:
        for name in (s.source_a, s.source_b):
            if name is not None:
                used[s.split].add(split_of[name])
    assert used['train'] <= set(TRAIN_IDENTITIES)
    assert used['test'] <= set(TEST_IDENTITIES)
    assert len(used['train']) == 5 and len(used['test']) == 3
    cats = [(s.split, s.category) for s in specs]
    assert cats.count(('test', 'easy')) == cats.count(('test', 'hard')) == 15
    assert cats.count(('train', 'hard')) == 15
    assert any(s.source_b for s in specs) and any(not s.source_b
                                                  for s in specs)
    with pytest.raises(ValueError, match='overlap'):
        GeneratorConfig(train_identities=('wflw/2', 'wflw/40'),
                        test_identities=('wflw/40',))
    with pytest.raises(ValueError):
        GeneratorConfig(codec='h264')
    with pytest.raises(ValueError):
        GeneratorConfig(frames=0)
    with pytest.raises(FileNotFoundError):
        SyntheticSources(faces_dir / 'missing', config)


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()
            and p.name != 'manifest.json'}


def test_determinism(faces_dir, tmp_path):
    config = GeneratorConfig(seed=3, **TINY)
    a = generate_benchmark(tmp_path / 'a', config, faces_dir, workers=1,
                           progress=False, log=None, keep_landmarks=True)
    b = generate_benchmark(tmp_path / 'b', config, faces_dir, workers=2,
                           progress=False, log=None, keep_landmarks=True)
    files_a, files_b = _files(tmp_path / 'a' / 'raw'), \
        _files(tmp_path / 'b' / 'raw')
    assert len(files_a) == 3 * (1 + 4 + 1)     # vid.avi, 4 .pts, .done
    assert files_a == files_b
    for v in a['landmarks']:
        np.testing.assert_array_equal(a['landmarks'][v], b['landmarks'][v])
    c = generate_benchmark(tmp_path / 'c', GeneratorConfig(seed=4, **TINY),
                           faces_dir, progress=False, log=None)
    assert c['frames'] == 12
    assert _files(tmp_path / 'c' / 'raw')['001/vid.avi'] != \
        files_a['001/vid.avi']
    # Resuming: nothing is rendered again.
    again = generate_benchmark(tmp_path / 'c', GeneratorConfig(seed=4, **TINY),
                               faces_dir, progress=False, log=None)
    assert again['frames'] == 0


def test_round_trip_through_converter(faces_dir, tmp_path):
    config = GeneratorConfig(seed=1, **TINY)
    out = generate_benchmark(tmp_path, config, faces_dir, convert=True,
                             keep_landmarks=True, progress=False, log=None)
    gt = out['landmarks']
    categories = json.loads((tmp_path / 'annotations' / 'categories.json')
                            .read_text())
    assert categories == {'001': out['specs'][0].category, '002': 'easy',
                          '003': 'hard'}
    assert np.load(tmp_path / 'broken_frames.npy',
                   allow_pickle=True).item() == {}
    seen = set()
    for split, videos in (('train', {'001'}), ('test', {'002', '003'}),
                          ('test_easy', {'002'}), ('test_hard', {'003'})):
        data = json.loads((tmp_path / 'annotations' / f'{split}.json')
                          .read_text())
        assert len(data['images']) == 4 * len(videos)
        for image, ann in zip(data['images'], data['annotations']):
            video, _, frame = image['file_name'].split('/')
            assert video in videos and ann['image_id'] == image['id']
            assert (image['width'], image['height']) == (96, 80)
            assert (tmp_path / 'images' / image['file_name']).is_file()
            k = int(frame.split('.')[0])
            kpts = np.array(ann['keypoints']).reshape(68, 3)
            np.testing.assert_allclose(kpts[:, :2], gt[video][k - 1],
                                       atol=1e-4, rtol=0)
            assert (kpts[:, 2] == 1).all()
            seen.add((video, k))
    assert len(seen) == 12
    # The raw .pts are 1-based: pts - 1 is the ground truth.
    pts = read_pts(tmp_path / 'raw' / '002' / 'annot' / '000003.pts')
    np.testing.assert_allclose(pts - 1, gt['002'][2], atol=1e-6)
    # Landmarks lie inside the frame.
    for marks in gt.values():
        assert marks.min() >= 0 and (marks[..., 0].max() < 96) and \
            (marks[..., 1].max() < 80)


def test_cli_and_contact_sheet(faces_dir, tmp_path):
    gen = load_script('tools/make_synthetic_300vw.py')
    assert gen.main(['--out', str(tmp_path), '--faces-dir', str(faces_dir),
                     '--train-videos', '1', '--test-easy-videos', '0',
                     '--test-hard-videos', '1', '--frames', '3', '--width',
                     '64', '--height', '64', '--convert',
                     '--no-progress']) == 0
    manifest = json.loads((tmp_path / 'raw' / 'manifest.json').read_text())
    assert [v['split'] for v in manifest['videos']] == ['train', 'test']
    sheet_tool = load_script('tools/contact_sheet.py')
    out = tmp_path / 'sheet.png'
    assert sheet_tool.main([str(tmp_path / 'raw'), '--out', str(out),
                            '--per-video', '2', '--columns', '2',
                            '--tile-height', '64']) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 66, 2 * 66, 3)
    assert sheet_tool.main([str(tmp_path / 'annotations' / 'test.json'),
                            '--out', str(out), '--crop']) == 0
    assert cv2.imread(str(out)).shape[0] == 242


def test_stills_of_each_split(faces_dir, tmp_path):
    """Labelled stills beside the videos: the training identities' and the
    test identities', each a frame of its own short track, in mmpose's
    300W JSON layout; adding them re-renders no video."""
    plain = generate_benchmark(tmp_path, GeneratorConfig(seed=2, **TINY),
                               faces_dir, progress=False, log=None)
    config = GeneratorConfig(seed=2, train_stills=5, test_stills=3, **TINY)
    out = generate_benchmark(tmp_path, config, faces_dir, progress=False,
                             log=None)
    assert plain['frames'] == 12 and out['frames'] == 0
    sources = SyntheticSources(faces_dir, config)
    split_of = {name: f.identity for name, f in sources.faces.items()}
    pools = dict(train=TRAIN_IDENTITIES, test=TEST_IDENTITIES)
    for split, count in (('train', 5), ('test', 3)):
        path = tmp_path / 'annotations' / f'stills_{split}.json'
        assert out['stills'][split] == str(path)
        data = json.loads(path.read_text())
        assert [i['file_name'] for i in data['images']] == [
            f'{split}/{k:06d}.jpg' for k in range(1, count + 1)]
        assert data['categories'][0]['name'] == 'face'
        stills = plan_stills(config, sources.images_of, split)
        assert len(stills) == count
        for (spec, frame), image, ann in zip(stills, data['images'],
                                             data['annotations']):
            assert {split_of[spec.source_a]} <= set(pools[split])
            assert ann['image_id'] == image['id'] == spec.index
            assert 0 <= frame < config.still_track_frames
            stream = 3 + STILL_SPLITS.index(split)
            _, points = make_renderer(spec, config, sources,
                                      stream).render(frame)
            kpts = np.array(ann['keypoints']).reshape(68, 3)
            np.testing.assert_allclose(kpts[:, :2], points, atol=1e-6)
            assert ann['num_keypoints'] == 68 and (kpts[:, 2] == 1).all()
            img = cv2.imread(str(tmp_path / 'stills' / image['file_name']))
            assert img.shape == (image['height'], image['width'], 3) == \
                (80, 96, 3)
    # the identities' stills differ from each other and between seeds
    first = (tmp_path / 'stills' / 'train' / '000001.jpg').read_bytes()
    assert first != (tmp_path / 'stills' / 'train' /
                     '000002.jpg').read_bytes()
    other = generate_benchmark(tmp_path / 'other',
                               GeneratorConfig(seed=3, train_stills=1,
                                               **TINY),
                               faces_dir, progress=False, log=None)
    assert Path(other['stills']['train']).is_file()
    assert (tmp_path / 'other' / 'stills' / 'train' /
            '000001.jpg').read_bytes() != first
    with pytest.raises(ValueError, match='still counts'):
        GeneratorConfig(train_stills=-1)


def test_motion_speed_replays_the_motion_faster():
    """``speed`` divides the knot spacings of head motion and expression:
    at speed 3 the pose changes about 3x as much per frame (mean over 8
    videos), the camera keeps its pace, and speed 1 is the track of
    before."""
    profile = PROFILES['hard']

    def track(seed, **kwargs):
        return make_track(np.random.default_rng(seed), 300, profile,
                          (320, 240), (32, 24), **kwargs)

    default, slow = track(7), track(7, speed=1.0)
    assert np.array_equal(default.yaw, slow.yaw)
    assert np.array_equal(default.blink, slow.blink)

    def step(speed, name):
        return float(np.mean([
            np.abs(np.diff(getattr(track(seed, speed=speed), name))).mean()
            for seed in range(8)
        ]))

    for name in ('yaw', 'pitch', 'roll', 'brows'):
        ratio = step(3.0, name) / step(1.0, name)
        assert 2.3 < ratio < 4.2, (name, ratio)  # 2.9 to 3.7
    assert 0.6 < step(3.0, 'bg_x') / step(1.0, 'bg_x') < 1.5
    with pytest.raises(ValueError, match='speed'):
        track(0, speed=0.0)
    with pytest.raises(ValueError, match='motion_speed'):
        GeneratorConfig(motion_speed=-1)

"""Face300VWClipDataset on the real 300VW frames and on generated videos."""
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
from mmengine.logging import MMLogger

from tsal_mmpose.datasets import Face300VWClipDataset
from tsal_mmpose.datasets.face_300vw_clip_dataset import parse_frame_name


def _vw(faces_dir: Path) -> Path:
    return faces_dir / '300vw'


def _dataset(root: Path, ann_file: str = 'anno_300vw.json',
             **kwargs) -> Face300VWClipDataset:
    kwargs.setdefault('data_prefix', dict(img=str(root) + '/'))
    return Face300VWClipDataset(
        ann_file=str(root / ann_file) if not Path(ann_file).is_absolute()
        else ann_file,
        **kwargs)


def _read_pts(path: Path) -> np.ndarray:
    """The 68 points of an iBUG .pts file, as written."""
    lines = path.read_text().split('{')[1].split('}')[0].split()
    return np.asarray(lines, dtype=np.float64).reshape(-1, 2)


def _frames(dataset: Face300VWClipDataset) -> List[Dict]:
    return [f for i in range(len(dataset))
            for f in dataset.get_data_info(i)['frames']]


class _LogCapture(logging.Handler):
    """Collects the records of mmengine's current logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> '_LogCapture':
        MMLogger.get_current_instance().addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        MMLogger.get_current_instance().removeHandler(self)

    def messages(self, level: int) -> List[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


def test_parse_frame_name():
    assert parse_frame_name('001/imgs/000006.jpg') == ('001', 6)
    assert parse_frame_name('401/000732.png') == ('401', 732)
    assert parse_frame_name('a\\imgs\\000010.jpg') == ('a', 10)
    with pytest.raises(ValueError, match='000006.jpg'):
        parse_frame_name('000006.jpg')
    with pytest.raises(ValueError, match='frame'):
        parse_frame_name('001/imgs/frame.jpg')


def test_real_frames_labels_exact(faces_dir):
    root = _vw(faces_dir)
    ds = _dataset(root, clip_len=1, label_stride=1)
    # 001/6, 001/9, 401/732 (401/731 is broken and absent from the JSON)
    assert len(ds) == 3
    frames = _frames(ds)
    assert [(f['video_id'], f['frame_id']) for f in frames] == [
        ('001', 6), ('001', 9), ('401', 732)]
    for f in frames:
        assert f['labelled'] is True and f['gt_hidden'] is False
        assert f['clip_len'] == 1 and f['frame_index'] == 0
        assert f['keypoints'].shape == (1, 68, 2)
        assert f['keypoints'].dtype == np.float32
        pts = _read_pts(root / f['video_id'] / 'annot' /
                        f'{f["frame_id"]:06d}.pts')
        np.testing.assert_array_equal(f['keypoints'][0],
                                      pts.astype(np.float32))
        np.testing.assert_array_equal(f['keypoints_visible'],
                                      np.ones((1, 68), np.float32))
        assert Path(f['img_path']).is_file()
        assert f['flip_indices'][36] == 45 and f['flip_indices'][45] == 36
    # hand-read values of the .pts files
    f6, f9, f732 = frames
    np.testing.assert_array_equal(f6['keypoints'][0, 0],
                                  np.float32([743.224, 197.764]))
    np.testing.assert_array_equal(f6['keypoints'][0, 45],
                                  np.float32([836.647, 187.198]))
    np.testing.assert_array_equal(f9['keypoints'][0, 36],
                                  np.float32([751.554, 195.364]))
    np.testing.assert_array_equal(f732['keypoints'][0, 0],
                                  np.float32([363.817, 271.708]))
    np.testing.assert_array_equal(f732['keypoints'][0, 67],
                                  np.float32([465.679, 376.251]))
    # boxes: JSON center, scale * 200
    np.testing.assert_array_equal(f6['bbox_center'],
                                  np.float32([[810.8955, 227.172]]))
    np.testing.assert_allclose(f6['bbox_scale'], [[139.0, 139.0]], rtol=1e-6)
    assert f6['img_path'].endswith('001/imgs/000006.jpg')


def test_training_clip_uses_labelled_box(faces_dir):
    root = _vw(faces_dir)
    # frames 6 and 9 are 3 apart; stride 5 labels frame 6 ((6 - 1) % 5 == 0)
    ds = _dataset(root, clip_len=2, label_stride=5, max_frame_gap=3)
    assert len(ds) == 1  # 401/732 is not a stride-5 frame
    clip = ds.get_data_info(0)
    assert clip['clip_len'] == 2 and clip['video_id'] == '001'
    first, second = clip['frames']
    assert (first['frame_id'], second['frame_id']) == (6, 9)
    assert (first['labelled'], second['labelled']) == (True, False)
    assert (first['gt_hidden'], second['gt_hidden']) == (False, True)
    assert [f['frame_index'] for f in clip['frames']] == [0, 1]
    assert all(f['clip_len'] == 2 for f in clip['frames'])
    # frame 9 is cropped with frame 6's box, not its own (809.2315, 232.1935)
    for key in ('bbox', 'bbox_center', 'bbox_scale'):
        np.testing.assert_array_equal(second[key], first[key])
    np.testing.assert_array_equal(second['bbox_center'],
                                  np.float32([[810.8955, 227.172]]))
    # the annotation of the unlabelled frame is still the true one here;
    # PackClipInputs hides it from the losses
    np.testing.assert_array_equal(second['keypoints'][0, 36],
                                  np.float32([751.554, 195.364]))

    # default max_frame_gap=1: 6 and 9 are not consecutive -> no clip of 2
    with _LogCapture() as log, pytest.raises(ValueError, match='no clip'):
        _dataset(root, clip_len=2, label_stride=5)
    assert any('1 labelled frames' in m for m in log.messages(logging.INFO))


def _with_frame_731(root: Path, tmp_path: Path) -> Path:
    """The fixture JSON plus frame 401/731 (annotated from its .pts)."""
    data = json.loads((root / 'anno_300vw.json').read_text())
    ann732 = next(a for a in data['annotations'] if a['image_id'] == 2)
    pts = _read_pts(root / '401' / 'annot' / '000731.pts')
    kpts = np.concatenate([pts, np.ones((68, 1))], axis=1).reshape(-1)
    data['images'].append(
        dict(file_name='401/imgs/000731.jpg', height=512, width=700, id=3))
    data['annotations'].append(
        dict(ann732, keypoints=kpts.tolist(), image_id=3, id=3))
    path = tmp_path / 'with_731.json'
    path.write_text(json.dumps(data))
    return path


def test_broken_frames(faces_dir, tmp_path):
    root = _vw(faces_dir)
    ann = str(_with_frame_731(root, tmp_path))
    broken = str(root / 'broken_frames.npy')
    # 731 = 1 + 73 * 10 is a labelled frame of the stride-10 protocol
    ds = _dataset(root, ann, clip_len=2, label_stride=10)
    frames = [(f['video_id'], f['frame_id'], f['labelled'])
              for f in _frames(ds)]
    assert frames == [('401', 731, True), ('401', 732, False)]
    clip = ds.get_data_info(0)
    np.testing.assert_array_equal(clip['frames'][0]['keypoints'][0, 0],
                                  np.float32([354.326810, 277.170196]))

    # on the broken list: never labelled, never evaluated, in no clip
    with _LogCapture() as log, pytest.raises(ValueError, match='no clip'):
        _dataset(root, ann, clip_len=2, label_stride=10,
                 broken_frames_file=broken)
    assert any('1 frames' in m and 'broken' in m
               for m in log.messages(logging.INFO))
    ds = _dataset(root, ann, clip_len=2, label_stride=10,
                  broken_frames_file=broken, test_mode=True)
    assert [(f['video_id'], f['frame_id']) for f in _frames(ds)] == [
        ('001', 6), ('001', 9), ('401', 732)]

    # a relative list path is taken under data_root
    ds = Face300VWClipDataset(
        ann_file=ann, data_root=str(root), data_prefix=dict(img=''),
        broken_frames_file='broken_frames.npy', clip_len=1, label_stride=1)
    assert [f['frame_id'] for f in _frames(ds)] == [6, 9, 732]
    with pytest.raises(FileNotFoundError, match='nowhere.npy'):
        _dataset(root, ann, broken_frames_file=str(tmp_path / 'nowhere.npy'))


def _write_video(tmp_path: Path, video: str, frames: List[int],
                 category: Optional[str] = None) -> Path:
    """A COCO-style JSON for a generated video (no image files)."""
    images, anns = [], []
    for i, frame in enumerate(frames):
        img = dict(file_name=f'{video}/imgs/{frame:06d}.jpg', height=100,
                   width=100, id=i)
        if category is not None:
            img['category'] = category
        images.append(img)
        # point n of frame f at (f + n / 100, n); box centre (f, 50)
        kpts = np.stack([frame + np.arange(68) / 100.0, np.arange(68),
                         np.ones(68)], axis=1)
        anns.append(
            dict(image_id=i, id=i, keypoints=kpts.reshape(-1).tolist(),
                 num_keypoints=68, center=[float(frame), 50.0], scale=0.3,
                 iscrowd=0, category_id=1))
    path = tmp_path / f'video_{video}.json'
    path.write_text(json.dumps(dict(images=images, annotations=anns,
                                    categories=[dict(id=1, name='person')])))
    return path


def test_generated_video_train_and_test_clips(tmp_path):
    # frames 1..23 of video 007, frame 12 broken
    ann = _write_video(tmp_path, '007', list(range(1, 24)))
    broken = tmp_path / 'broken.npy'
    np.save(broken, {'7': [12, 30]}, allow_pickle=True)
    common = dict(ann_file=str(ann), data_prefix=dict(img=''),
                  check_images=False, broken_frames_file=str(broken),
                  label_stride=10)

    train = Face300VWClipDataset(clip_len=3, **common)
    clips = [[f['frame_id'] for f in train.get_data_info(i)['frames']]
             for i in range(len(train))]
    # labelled 1, 11, 21; 11 ends its segment (12 broken) -> no clip
    assert clips == [[1, 2, 3], [21, 22, 23]]
    for i in range(len(train)):
        frames = train.get_data_info(i)['frames']
        assert [f['labelled'] for f in frames] == [True, False, False]
        assert [f['gt_hidden'] for f in frames] == [False, True, True]
        for f in frames:  # crop box of the labelled frame
            np.testing.assert_array_equal(f['bbox_center'],
                                          frames[0]['bbox_center'])

    test = Face300VWClipDataset(clip_len=5, test_mode=True, **common)
    clips = [[f['frame_id'] for f in test.get_data_info(i)['frames']]
             for i in range(len(test))]
    assert clips == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11],
                     [13, 14, 15, 16, 17], [18, 19, 20, 21, 22], [23]]
    frames = _frames(test)
    ids = [f['frame_id'] for f in frames]
    assert sorted(ids) == [f for f in range(1, 24) if f != 12]
    assert len(ids) == len(set(ids))  # every frame exactly once
    for f in frames:
        assert f['clip_len'] == len(
            next(c for c in clips if f['frame_id'] in c))
        assert f['labelled'] == (f['frame_id'] in (1, 11, 21))
        assert f['gt_hidden'] is False and f['evaluate'] is True
        # own annotation, own box for the metric, first frame box for crop
        np.testing.assert_array_equal(
            f['keypoints'][0, 5], np.float32([f['frame_id'] + 0.05, 5.0]))
        first = next(c for c in clips if f['frame_id'] in c)[0]
        np.testing.assert_array_equal(f['bbox_center'],
                                      np.float32([[first, 50.0]]))
        np.testing.assert_allclose(
            (f['bbox'][0, 0] + f['bbox'][0, 2]) / 2, f['frame_id'],
            atol=1e-5)

    own = Face300VWClipDataset(
        clip_len=5, test_mode=True, test_bbox='own', **common)
    for f in _frames(own):
        np.testing.assert_array_equal(f['bbox_center'],
                                      np.float32([[f['frame_id'], 50.0]]))

    padded = Face300VWClipDataset(
        clip_len=5, test_mode=True, pad_last_clip=True, **common)
    frames = _frames(padded)
    assert all(f['clip_len'] == 5 for f in frames)
    real = [f['frame_id'] for f in frames if f['evaluate']]
    assert real == [f for f in range(1, 24) if f != 12]
    pads = [(f['frame_id'], f['labelled']) for f in frames
            if not f['evaluate']]
    assert pads == [(11, False)] * 4 + [(23, False)] * 4


def test_categories(tmp_path):
    ann = _write_video(tmp_path, '410', [1, 2], category='C')
    ds = Face300VWClipDataset(
        ann_file=str(ann), data_prefix=dict(img=''), check_images=False,
        clip_len=2, test_mode=True)
    assert ds.get_data_info(0)['category'] == 'C'
    assert {f['category'] for f in _frames(ds)} == {'C'}
    # the argument wins; ids match numerically ('0410' ~ '410')
    ds = Face300VWClipDataset(
        ann_file=str(ann), data_prefix=dict(img=''), check_images=False,
        clip_len=2, test_mode=True, categories={'0410': 'B'})
    assert {f['category'] for f in _frames(ds)} == {'B'}
    cats = tmp_path / 'cats.json'
    cats.write_text(json.dumps({'410': 'A'}))
    ds = Face300VWClipDataset(
        ann_file=str(ann), data_prefix=dict(img=''), check_images=False,
        clip_len=2, test_mode=True, categories=str(cats))
    assert {f['category'] for f in _frames(ds)} == {'A'}
    ann = _write_video(tmp_path, '001', [1, 2])
    ds = Face300VWClipDataset(
        ann_file=str(ann), data_prefix=dict(img=''), check_images=False,
        clip_len=2, test_mode=True)
    assert {f['category'] for f in _frames(ds)} == {None}


def test_missing_image_names_the_file(faces_dir, tmp_path):
    root = _vw(faces_dir)
    data = json.loads((root / 'anno_300vw.json').read_text())
    data['images'][1]['file_name'] = '001/imgs/000099.jpg'
    ann = tmp_path / 'missing.json'
    ann.write_text(json.dumps(data))
    with pytest.raises(FileNotFoundError, match='001/imgs/000099.jpg'):
        _dataset(root, str(ann), clip_len=1, label_stride=1)
    with _LogCapture() as log:
        ds = _dataset(root, str(ann), clip_len=1, label_stride=1,
                      skip_invalid=True)
    assert [f['frame_id'] for f in _frames(ds)] == [6, 732]
    warnings = log.messages(logging.WARNING)
    assert len(warnings) == 1 and 'skipped 1 invalid' in warnings[0]
    assert '000099.jpg' in warnings[0]


@pytest.mark.parametrize('edit, message', [
    (lambda d: d['annotations'][0]['keypoints'].pop(), 'keypoints'),
    (lambda d: d['annotations'][0].pop('center'), 'center'),
    (lambda d: d['annotations'][0].update(scale=-1), 'scale'),
    (lambda d: d['images'][0].update(file_name='000006.jpg'), 'file_name'),
    (lambda d: d['annotations'].append(dict(d['annotations'][0], id=9)),
     '2 annotations'),
])
def test_malformed_entry_names_the_file(faces_dir, tmp_path, edit, message):
    root = _vw(faces_dir)
    data = json.loads((root / 'anno_300vw.json').read_text())
    edit(data)
    ann = tmp_path / 'bad.json'
    ann.write_text(json.dumps(data))
    with pytest.raises(ValueError) as err:
        _dataset(root, str(ann), clip_len=1, label_stride=1)
    assert str(ann) in str(err.value) and message in str(err.value)
    assert '000006.jpg' in str(err.value)
    ds = _dataset(root, str(ann), clip_len=1, label_stride=1,
                  skip_invalid=True)
    assert [f['frame_id'] for f in _frames(ds)] == [9, 732]


def test_bad_files_and_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.json'):
        Face300VWClipDataset(ann_file=str(tmp_path / 'absent.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": {}}')
    with pytest.raises(ValueError, match='bad.json'):
        Face300VWClipDataset(ann_file=str(bad))
    ann = _write_video(tmp_path, '001', [1, 2])
    for kwargs in (dict(clip_len=0), dict(label_stride=0),
                   dict(max_frame_gap=0), dict(test_bbox='last'),
                   dict(filter_cfg=dict(bbox_score_thr=0.5))):
        with pytest.raises(ValueError):
            Face300VWClipDataset(ann_file=str(ann), check_images=False,
                                 **kwargs)

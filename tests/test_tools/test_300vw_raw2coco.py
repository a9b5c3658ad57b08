"""Raw 300VW / 300W converters on the real samples and on broken copies."""
import json
import logging
import os
import shutil
import stat
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest

from tsal_mmpose.datasets.converters import (ConversionError, ConvertOptions,
                                             PtsError, convert_300vw_raw,
                                             convert_300w_raw, official_split,
                                             read_pts, write_pts)

from tests.test_tools.tool_loader import load_script


def pts_values_minus_one(path: Path) -> list:
    """Independent parse: the numbers between braces, minus one, exactly."""
    lines = path.read_text().split('{')[1].split('}')[0].split()
    return [float(Decimal(v) - 1) for v in lines]


@pytest.fixture
def raw_copy(faces_dir, tmp_path) -> Path:
    """A writable copy of the raw 300VW sample (clip 401, 2 frames)."""
    dst = tmp_path / 'raw'
    shutil.copytree(faces_dir / '300vw_raw', dst, copy_function=shutil.copy)
    for root, dirs, files in os.walk(dst):
        for name in dirs + files:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


def convert(raw, tmp_path, **kwargs):
    options = ConvertOptions(**kwargs)
    return convert_300vw_raw(raw, tmp_path / 'out', tmp_path / 'ann.json',
                             options=options, progress=False)


def test_real_sample_labels(faces_dir, tmp_path):
    raw = faces_dir / '300vw_raw'
    result = convert(raw, tmp_path)
    data = json.loads((tmp_path / 'ann.json').read_text())
    assert data == result['json']
    assert data['categories'] == [{'id': 1, 'name': 'person'}]
    assert data['images'] == [
        {'file_name': '401/imgs/000001.jpg', 'height': 512, 'width': 700,
         'id': 0},
        {'file_name': '401/imgs/000002.jpg', 'height': 512, 'width': 700,
         'id': 1}]
    reference = json.loads((faces_dir / '300vw' / 'anno_300vw.json')
                           .read_text())
    for k, ann in enumerate(data['annotations']):
        # Same keys in the same order as mmpose's converter writes them.
        assert list(ann) == list(reference['annotations'][0])
        assert ann['image_id'] == ann['id'] == k
        assert ann['num_keypoints'] == 68 and ann['iscrowd'] == 0
        kpts = ann['keypoints']
        assert len(kpts) == 204 and kpts[2::3] == [1] * 68
        xy = [v for i, v in enumerate(kpts) if i % 3 != 2]
        assert xy == pts_values_minus_one(
            raw / '401' / 'annot' / f'{k + 1:06d}.pts')
    # Hand-checked values: first lines of the original .pts files.
    assert data['annotations'][0]['keypoints'][:2] == [353.32681, 276.170196]
    assert data['annotations'][1]['keypoints'][:2] == [362.817, 270.708]
    # Frame 2 is frame 732 of clip 401: box statistics as in mmpose's JSON,
    # centre shifted by the origin change.
    ref = reference['annotations'][2]
    ann = data['annotations'][1]
    assert ann['scale'] == ref['scale'] == 0.82
    assert ann['area'] == pytest.approx(ref['area'], abs=1e-6)
    assert ann['center'] == pytest.approx(
        [ref['center'][0] - 1, ref['center'][1] - 1], abs=1e-9)


def test_pts_origin_0_reproduces_mmpose(faces_dir, tmp_path):
    result = convert(faces_dir / '300vw_raw', tmp_path, pts_origin=0)
    ann = result['json']['annotations'][1]
    ref = json.loads((faces_dir / '300vw' / 'anno_300vw.json')
                     .read_text())['annotations'][2]
    assert ann['keypoints'] == ref['keypoints']
    assert ann['center'] == ref['center'] and ann['scale'] == ref['scale']


def test_frame_numbering_is_one_based(faces_dir, tmp_path):
    raw = faces_dir / '300vw_raw' / '401'
    convert(faces_dir / '300vw_raw', tmp_path, img_ext='png')
    cap = cv2.VideoCapture(str(raw / 'vid.avi'))
    decoded = [cap.read()[1] for _ in range(2)]
    originals = [cv2.imread(str(faces_dir / '300vw' / '401' / 'imgs' /
                                f'{f:06d}.jpg')).astype(float)
                 for f in (731, 732)]
    for k in (1, 2):
        written = cv2.imread(str(tmp_path / 'out' / '401' / 'imgs' /
                                 f'{k:06d}.png'))
        np.testing.assert_array_equal(written, decoded[k - 1])
        # The k-th decoded frame is original frame 730 + k ...
        err = [np.abs(written - o).mean() for o in originals]
        assert err[k - 1] < 0.7 * err[2 - k]
        # ... and annot/00000k.pts holds that frame's original labels.
        assert (raw / 'annot' / f'{k:06d}.pts').read_text() == (
            faces_dir / '300vw' / '401' / 'annot' /
            f'{730 + k:06d}.pts').read_text()


def test_resume_and_fingerprint(faces_dir, tmp_path):
    raw = faces_dir / '300vw_raw'
    first = convert(raw, tmp_path)
    img = tmp_path / 'out' / '401' / 'imgs' / '000001.jpg'
    stamp = img.stat().st_mtime_ns
    second = convert(raw, tmp_path)
    assert second['resumed'] == ['401'] and first['resumed'] == []
    assert second['json'] == first['json']
    assert img.stat().st_mtime_ns == stamp
    third = convert(raw, tmp_path, pts_origin=0)
    assert third['resumed'] == []
    assert third['json']['annotations'][0]['keypoints'][0] == 354.32681


def test_broken_frames_left_out(faces_dir, tmp_path):
    result = convert(faces_dir / '300vw_raw', tmp_path,
                     broken_frames={'401': [2]})
    assert [i['file_name'] for i in result['json']['images']] == [
        '401/imgs/000001.jpg']
    info = [p for p in result['problems'] if p.kind == 'broken_frame']
    assert len(info) == 1 and info[0].frames == [2]
    # The frame itself is still extracted.
    assert (tmp_path / 'out' / '401' / 'imgs' / '000002.jpg').is_file()


BAD_PTS = {
    'count': ('version: 1\nn_points: 68\n{\n' + '1.0 2.0\n' * 67 + '}\n',
              'header says n_points: 68 but the file has 67'),
    'non_numeric': ('version: 1\nn_points: 68\n{\n' + '1.0 2.0\n' * 67 +
                    '1.0 abc\n}\n', 'non-numeric'),
    'nan': ('version: 1\nn_points: 68\n{\n' + '1.0 2.0\n' * 67 +
            'nan 2.0\n}\n', 'non-finite'),
    'no_braces': ('version: 1\nn_points: 68\n', "no '{ ... }'"),
}


@pytest.mark.parametrize('case', sorted(BAD_PTS))
def test_malformed_pts(raw_copy, tmp_path, case, caplog):
    text, reason = BAD_PTS[case]
    bad = raw_copy / '401' / 'annot' / '000002.pts'
    bad.write_text(text)
    with pytest.raises(ConversionError) as info:
        convert(raw_copy, tmp_path)
    assert str(bad) in str(info.value) and reason in str(info.value)
    assert not (tmp_path / 'ann.json').exists()
    assert not (tmp_path / 'out' / '401' / '.done').exists()
    with caplog.at_level(logging.WARNING):
        result = convert(raw_copy, tmp_path, skip_invalid=True)
    assert [i['file_name'] for i in result['json']['images']] == [
        '401/imgs/000001.jpg']
    assert 'skip-invalid: 1 problem(s) in 1 video(s) (1 frame(s))' \
        in caplog.text and str(bad) in caplog.text


def test_truncated_video(raw_copy, tmp_path, caplog):
    video = raw_copy / '401' / 'vid.avi'
    data = video.read_bytes()
    video.write_bytes(data[:int(len(data) * 0.3)])
    with pytest.raises(ConversionError) as info:
        convert(raw_copy, tmp_path)
    kinds = {p.kind for p in info.value.problems}
    assert 'video_too_short' in kinds
    assert f'{video}: 1 frame(s) decoded but 1 .pts file(s) label later ' \
        'frames: 2' in str(info.value)
    with caplog.at_level(logging.WARNING):
        result = convert(raw_copy, tmp_path, skip_invalid=True)
    assert len(result['json']['images']) == 1
    assert str(video) in caplog.text


def test_video_shorter_than_annotations(raw_copy, tmp_path):
    # A valid 1-frame video with 2 .pts files.
    video = raw_copy / '401' / 'vid.avi'
    cap = cv2.VideoCapture(str(video))
    frame = cap.read()[1]
    cap.release()
    writer = cv2.VideoWriter(str(video), cv2.CAP_OPENCV_MJPEG,
                             cv2.VideoWriter_fourcc(*'MJPG'), 25,
                             (frame.shape[1], frame.shape[0]))
    writer.write(frame)
    writer.release()
    with pytest.raises(ConversionError) as info:
        convert(raw_copy, tmp_path)
    assert [p.kind for p in info.value.problems] == ['video_too_short']
    assert info.value.problems[0].frames == [2]


def test_missing_files(raw_copy, tmp_path):
    (raw_copy / '401' / 'annot' / '000001.pts').unlink()
    with pytest.raises(ConversionError) as info:
        convert(raw_copy, tmp_path)
    assert '000001.pts' in str(info.value)
    assert [p.kind for p in info.value.problems] == ['missing_pts']
    (raw_copy / '401' / 'vid.avi').unlink()
    with pytest.raises(ConversionError, match='vid.avi: file not found'):
        convert(raw_copy, tmp_path)


def test_cli(faces_dir, raw_copy, tmp_path, capsys):
    tool = load_script('tools/dataset_converters/300vw_raw2coco.py')
    out, ann = tmp_path / 'cli', tmp_path / 'cli.json'
    assert tool.main([str(faces_dir / '300vw_raw'), str(out), '--json',
                      str(ann), '--workers', '2', '--no-progress']) == 0
    assert len(json.loads(ann.read_text())['images']) == 2
    bad = raw_copy / '401' / 'annot' / '000001.pts'
    bad.write_text(BAD_PTS['nan'][0])
    assert tool.main([str(raw_copy), str(tmp_path / 'cli2'), '--json',
                      str(tmp_path / 'cli2.json'), '--no-progress']) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and 'malformed .pts' in err


def test_pts_io_round_trip(tmp_path):
    points = np.array([[0.0, 1.5], [10.123456, 20.000001]])
    write_pts(tmp_path / 'a.pts', points)
    assert (tmp_path / 'a.pts').read_text().splitlines()[3] == \
        '1.000000 2.500000'
    np.testing.assert_array_equal(
        read_pts(tmp_path / 'a.pts', num_points=2, origin=1), points)
    with pytest.raises(PtsError, match='expected 68 points, found 2'):
        read_pts(tmp_path / 'a.pts')
    with pytest.raises(PtsError, match='file not found'):
        read_pts(tmp_path / 'missing.pts')


def test_300w_raw_converter(faces_dir, tmp_path):
    """Round trip through .pts reproduces mmpose's 300W JSON fields."""
    reference = json.loads((faces_dir / '300w' / 'test_300w.json')
                           .read_text())
    images = {i['id']: i for i in reference['images']}
    for ann in reference['annotations']:
        name = images[ann['image_id']]['file_name']
        shutil.copy(faces_dir / '300w' / name, tmp_path / name)
        kpts = np.array(ann['keypoints']).reshape(-1, 3)[:, :2]
        write_pts((tmp_path / name).with_suffix('.pts'), kpts, origin=0)
    data = convert_300w_raw(tmp_path, tmp_path / 'out' / 'a.json',
                            pts_origin=0)
    assert data['categories'] == reference['categories']
    by_name = {i['file_name']: i for i in data['images']}
    for ann in reference['annotations']:
        image = images[ann['image_id']]
        mine_img = by_name[image['file_name']]
        assert (mine_img['height'], mine_img['width']) == (
            image['height'], image['width'])
        mine = data['annotations'][mine_img['id']]
        assert set(mine) == set(ann)
        assert mine['keypoints'] == pytest.approx(ann['keypoints'], abs=1e-6)
        assert mine['bbox'] == pytest.approx(ann['bbox'], abs=1e-3)
        assert mine['area'] == pytest.approx(ann['area'], rel=1e-6)
        assert mine['scale'] == ann['scale']
        assert mine['center'] == pytest.approx(ann['center'], abs=0.5)
    (tmp_path / 'indoor_020.pts').write_text(BAD_PTS['count'][0])
    with pytest.raises(ValueError, match='indoor_020.pts'):
        convert_300w_raw(tmp_path, tmp_path / 'out' / 'b.json')


def test_official_split(faces_dir):
    raw = faces_dir / '300vw_raw'
    assert official_split(raw, 'all') == ['401']
    assert official_split(raw, 'test') == official_split(raw, 'test_a') \
        == ['401']
    assert official_split(raw, 'train') == official_split(raw, 'test_c') \
        == []
    with pytest.raises(ValueError, match='unknown split'):
        official_split(raw, 'val')

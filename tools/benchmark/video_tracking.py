#!/usr/bin/env python3
"""Track mode against detect mode on real-face videos with exact landmarks.

``tools/infer_video.py`` follows a face either by detecting it on every
frame (``--box-mode detect``) or by carrying the previous frame's landmark
box, checked on every frame (``--box-mode track``, the default). This tool
measures whether the carried box drifts: from the real 300W photographs it
makes videos in which a camera pans, zooms and rolls over the photograph
(:func:`camera_video`; the ground-truth landmarks are the photograph's,
moved by the same affine map), runs a model in both modes and prints, per
video, the NME of each mode (inter-ocular, %), their ratio, and the
smallest crop box relative to the true face size (the longer side of the
ground-truth landmark box) and relative to the last detection.

Example::

    python tools/benchmark/video_tracking.py \\
        work_dirs/demo/configs/tsal.py work_dirs/demo/tsal/iter_900.pth \\
        --out-dir work_dirs/video_tracking
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from tsal_mmpose.apis import (build_face_detector, infer_video,
                              landmark_box, video_nme)
from tsal_mmpose.datasets.synthetic.generator import default_faces_dir
from tsal_mmpose.datasets.synthetic.sources import load_source_faces

#: (width, height) of the videos: the embedded benchmark's frame size.
VIDEO_SIZE = (320, 240)
#: Camera motions of :func:`camera_video`.
MOTIONS = ('pan', 'zoom', 'roll', 'all')
#: The real photographs: 300W indoor_029 (a training identity of the
#: embedded benchmark) and indoor_020 (a test identity).
PHOTOS = ('300w/indoor_029', '300w/indoor_020')


def camera_path(motion: str, num_frames: int) -> np.ndarray:
    """Per-frame camera parameters of a motion.

    Args:
        motion: One of :data:`MOTIONS`: ``pan`` (the face crosses the
            frame, 90 px), ``zoom`` (face side 60 to 130 px), ``roll``
            (-20 to +20 degrees and back) or ``all`` (the three at once).
        num_frames: Frames.

    Returns:
        np.ndarray: [F, 4] face centre x, y (fraction of the frame), face
        side (pixels) and roll (degrees).
    """
    if motion not in MOTIONS:
        raise ValueError(f'motion must be one of {MOTIONS}, got {motion!r}')
    t = np.linspace(0.0, 1.0, num_frames)
    cx, cy = np.full_like(t, 0.5), np.full_like(t, 0.5)
    side, roll = np.full_like(t, 90.0), np.zeros_like(t)
    if motion in ('pan', 'all'):
        cx = 0.3 + 0.4 * t
        cy = 0.5 + 0.08 * np.sin(2 * np.pi * t)
    if motion in ('zoom', 'all'):
        side = 60.0 + 70.0 * t
    if motion in ('roll', 'all'):
        roll = -20.0 * np.cos(2 * np.pi * t)
    return np.stack([cx, cy, side, roll], axis=1)


def camera_video(image: np.ndarray,
                 points: np.ndarray,
                 path: Path,
                 motion: str,
                 num_frames: int = 120,
                 fps: float = 25.0) -> np.ndarray:
    """Write an MJPG video of a camera moving over a photograph.

    Frame ``i`` is the photograph under the similarity transform that puts
    the centre of its landmark box at the path's position, scales the box's
    longer side to the path's face side and rotates by its roll
    (:func:`camera_path`); the photograph's border is replicated.

    Args:
        image: BGR photograph [H, W, 3].
        points: [N, 2] its landmarks, 0-based pixels.
        path: The ``.avi`` to write.
        motion: See :func:`camera_path`.
        num_frames: Frames (>= 1).
        fps: Frame rate of the file.

    Returns:
        np.ndarray: [F, N, 2] the landmarks of every frame.
    """
    width, height = VIDEO_SIZE
    box = landmark_box(points)
    centre = (box[:2] + box[2:]) / 2
    side = float(np.max(box[2:] - box[:2]))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps,
                             VIDEO_SIZE)
    if not writer.isOpened():
        raise OSError(f'cannot write the video {path}')
    truth = []
    for cx, cy, face_side, roll in camera_path(motion, num_frames):
        matrix = cv2.getRotationMatrix2D(
            (float(centre[0]), float(centre[1])), float(roll),
            face_side / side)
        matrix[:, 2] += np.array([cx * width, cy * height]) - centre
        writer.write(
            cv2.warpAffine(image, matrix, VIDEO_SIZE, flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_REPLICATE))
        truth.append(points @ matrix[:, :2].T + matrix[:, 2])
    writer.release()
    return np.asarray(truth)


def box_sizes(frames: Sequence[Dict[str, Any]],
              truth: np.ndarray) -> Tuple[float, float]:
    """The smallest crop box, relative to the true face and to the last
    detection.

    Args:
        frames: :func:`infer_video` records.
        truth: [F, N, 2] ground-truth landmarks.

    Returns:
        tuple: min over frames with a box of (crop longer side / true
        landmark box longer side) and of (crop longer side / longer side of
        the last detector box before or at that frame).
    """
    to_face, to_detection, last = [], [], None
    for record, points in zip(frames, truth):
        if record['bbox'] is None:
            continue
        crop = np.asarray(record['bbox'])
        crop_side = float(np.max(crop[2:] - crop[:2]))
        face = landmark_box(points)
        to_face.append(crop_side / float(np.max(face[2:] - face[:2])))
        if record['detected']:
            last = crop_side
        if last:
            to_detection.append(crop_side / last)
    return (min(to_face, default=float('nan')),
            min(to_detection, default=float('nan')))


#: Track mode with every check of the carried box switched off.
UNCHECKED = dict(min_score=None, min_score_ratio=0.0,
                 max_disagreement_ratio=float('inf'),
                 max_size_change=float('inf'), redetect_interval=0)


def measure(model: Any,
            video: Path,
            truth: np.ndarray,
            detector: Any,
            unchecked: bool = False) -> Dict[str, Any]:
    """Both box modes on one video (and, with ``unchecked``, track mode
    without its checks): NME (%), box sizes, detector boxes."""
    row: Dict[str, Any] = {}
    runs = [('detect', {}), ('track', {})]
    if unchecked:
        runs.append(('unchecked', UNCHECKED))
    for name, kwargs in runs:
        result = infer_video(model, video,
                             box_mode='detect' if name == 'detect' else
                             'track', detector=detector, progress=False,
                             **kwargs)
        frames = result['frames']
        nme = video_nme(frames, truth)
        to_face, to_detection = box_sizes(frames, truth)
        lost: Dict[str, int] = {}
        for record in frames:
            if record['lost']:
                lost[record['lost']] = lost.get(record['lost'], 0) + 1
        row[name] = dict(nme=float(100 * np.nanmean(nme)),
                         frames_with_face=int(np.isfinite(nme).sum()),
                         last10_nme=float(100 * np.nanmean(nme[-10:])),
                         min_box_to_face=to_face,
                         min_box_to_detection=to_detection,
                         detector_boxes=sum(r['detected'] for r in frames),
                         lost=lost,
                         fps=result['processing_fps'])
    row['ratio'] = row['track']['nme'] / row['detect']['nme']
    return row


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='model checkpoint')
    parser.add_argument('--out-dir', type=Path,
                        default=Path('work_dirs/video_tracking'),
                        help='videos and results.json')
    parser.add_argument('--faces-dir', type=Path, default=None,
                        help='real faces (default: $TSAL_FACES_DIR, else '
                        'the faces shipped with the package)')
    parser.add_argument('--frames', type=int, default=120,
                        help='frames per video (default 120)')
    parser.add_argument('--detector', default='auto',
                        choices=('auto', 'mtcnn', 'haar'))
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--unchecked', action='store_true',
                        help='also run track mode with its checks off '
                        '(no re-detection, no confidence or size test)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    import torch
    from mmpose.apis import init_model

    from tsal_mmpose.utils import allow_mmengine_checkpoints
    torch.set_num_threads(args.threads)
    allow_mmengine_checkpoints()
    model = init_model(args.config, args.checkpoint, device='cpu')
    detector = build_face_detector(args.detector)
    faces = {f.name: f for f in load_source_faces(
        args.faces_dir or default_faces_dir(),
        identities=list(PHOTOS))}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows: Dict[str, Dict[str, Any]] = {}
    start = time.monotonic()
    for photo in PHOTOS:
        for motion in MOTIONS:
            name = f'{photo.split("/")[1]}_{motion}'
            video = args.out_dir / f'{name}.avi'
            truth = camera_video(faces[photo].image, faces[photo].points,
                                 video, motion, args.frames)
            rows[name] = measure(model, video, truth, detector,
                                 args.unchecked)
            r = rows[name]
            print(f'{name}: NME detect {r["detect"]["nme"]:.2f} track '
                  f'{r["track"]["nme"]:.2f} (x{r["ratio"]:.3f}); smallest '
                  f'track box {r["track"]["min_box_to_face"]:.2f} of the '
                  'face, '
                  f'{r["track"]["min_box_to_detection"]:.2f} of the last '
                  f'detection; {r["track"]["detector_boxes"]} detector '
                  f'boxes, lost {r["track"]["lost"]} '
                  f'({time.monotonic() - start:.0f} s)', flush=True)
    header = ('| video | NME detect | NME track | track / detect | '
              'last 10 frames detect / track | smallest track box / face | '
              'smallest track box / detection | detector boxes in track |')
    columns = 8
    if args.unchecked:
        header += ' NME track, checks off | its smallest box / face |'
        columns += 2
    lines = [header, '|' + '---|' * columns]
    for name, r in rows.items():
        d, t = r['detect'], r['track']
        line = (f'| {name} | {d["nme"]:.2f} | {t["nme"]:.2f} | '
                f'{r["ratio"]:.3f} | {d["last10_nme"]:.2f} / '
                f'{t["last10_nme"]:.2f} | {t["min_box_to_face"]:.2f} | '
                f'{t["min_box_to_detection"]:.2f} | {t["detector_boxes"]} |')
        if args.unchecked:
            u = r['unchecked']
            line += f' {u["nme"]:.2f} | {u["min_box_to_face"]:.2f} |'
        lines.append(line)
    print('\n'.join(lines))
    info = dict(date=datetime.date.today().isoformat(),
                command=' '.join(sys.argv),
                machine=f'{platform.machine()}, {torch.get_num_threads()} '
                'torch thread(s)',
                detector=detector.describe(),
                frames=args.frames)
    print(json.dumps(info))
    out = dict(info=info, videos=rows)
    (args.out_dir / 'results.json').write_text(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()

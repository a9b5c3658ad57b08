"""Convert the raw 300VW layout into frames and a COCO-style JSON.

Input (the official 300VW release, or :mod:`..synthetic` output)::

    <raw_root>/NNN/vid.avi
    <raw_root>/NNN/annot/000001.pts     # iBUG .pts of frame 1 of vid.avi

Frame numbers are 1-based: ``annot/00000k.pts`` labels the k-th decoded
frame of ``vid.avi``. Coordinates in the official .pts files are 1-based
pixels.

Output::

    <out_root>/NNN/imgs/000001.jpg      # k-th decoded frame (every frame)
    <out_root>/NNN/.partial.json        # this video's records + problems
    <out_root>/NNN/.done                # written last; options fingerprint
    <json_path>                         # all requested videos

The JSON has exactly the structure written by mmpose's
``tools/dataset_converters/300vw2coco.py`` (``images``: file_name
``NNN/imgs/000006.jpg``, height, width, id; ``annotations``: segmentation,
num_keypoints, iscrowd, category_id, keypoints ``[x, y, 1] * 68``, scale,
area, center, image_id, id; ``categories``: ``[{id: 1, name: person}]``),
so mmpose's ``Face300VWDataset`` reads it with ``data_prefix`` pointing at
``<out_root>``.

Coordinate convention: by default (``pts_origin=1``) one is subtracted from
every .pts value, giving mmpose's 0-based pixel coordinates (centre of the
top-left pixel at (0, 0)). mmpose's own converter copies the .pts values
unchanged, i.e. its JSON is 1-based; ``pts_origin=0`` reproduces that.

Differences from mmpose's converter: frames are decoded with OpenCV (no
ffmpeg binary), written as JPEG by default, every problem is reported by
file name, and the work is parallel and resumable (a video whose
``.done`` marker matches the current options is not decoded again; its
records come from ``.partial.json``). Frames on the broken-frame list are
extracted but left out of the JSON, as mmpose does.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, Union

import cv2
import numpy as np

from .coco_face import FACE_CATEGORY_300VW, vw_annotation
from .parallel import map_unordered
from .pts_io import PtsError, read_pts_decimal, shift_origin

__all__ = ['ConvertOptions', 'Problem', 'ConversionError',
           'convert_300vw_raw', 'convert_video', 'list_videos',
           'load_broken_frames', 'format_problems', 'TEST_CATEGORIES_300VW',
           'official_split']

PathLike = Union[str, os.PathLike]
logger = logging.getLogger(__name__)

_PTS_NAME = re.compile(r'^(\d+)\.pts$')
PARTIAL_NAME = '.partial.json'
DONE_NAME = '.done'

#: Problem kinds, in the order of the printed summary.
PROBLEM_TITLES = {
    'missing_video': 'missing video file',
    'unreadable_video': 'video that OpenCV cannot open',
    'missing_annotations': 'missing annot/ folder or no .pts file',
    'bad_pts_name': '.pts file name that is not a frame number',
    'missing_pts': 'missing .pts (gap in the frame numbers)',
    'malformed_pts': 'malformed .pts (point count, non-numeric, NaN)',
    'video_too_short': 'video shorter than its annotations',
    'unreadable_frame': 'unreadable frame',
    'unannotated_frames': 'frames without .pts at the end of the video',
    'broken_frame': 'frames on the broken-frame list (left out)',
}
WARNING_KINDS = ('unannotated_frames',)
INFO_KINDS = ('broken_frame',)


#: The official 300VW test videos by category (A: laboratory and
#: naturalistic well-lit, B: real-world human-computer interaction,
#: C: arbitrary conditions); every other video is a training video.
TEST_CATEGORIES_300VW = {
    'A': ('114', '124', '125', '126', '150', '158', '401', '402', '505',
          '506', '507', '508', '509', '510', '511', '514', '515', '518',
          '519', '520', '521', '522', '524', '525', '537', '538', '540',
          '541', '546', '547', '548'),
    'B': ('203', '208', '211', '212', '213', '214', '218', '224', '403',
          '404', '405', '406', '407', '408', '409', '412', '550', '551',
          '553'),
    'C': ('410', '411', '516', '517', '526', '528', '529', '530', '531',
          '533', '557', '558', '559', '562'),
}


def official_split(raw_root: PathLike, split: str) -> list[str]:
    """Video ids of an official 300VW split present under ``raw_root``.

    Args:
        raw_root: The raw 300VW folder.
        split: 'all', 'train' (every video that is not a test video),
            'test' (A + B + C), 'test_a', 'test_b' or 'test_c'.

    Returns:
        Sorted video ids (test lists keep only videos found).
    """
    found = list_videos(raw_root)
    test = {v for vids in TEST_CATEGORIES_300VW.values() for v in vids}
    if split == 'all':
        return found
    if split == 'train':
        return [v for v in found if v not in test]
    if split == 'test':
        return [v for v in found if v in test]
    if split in ('test_a', 'test_b', 'test_c'):
        wanted = set(TEST_CATEGORIES_300VW[split[-1].upper()])
        return [v for v in found if v in wanted]
    raise ValueError(f'unknown split {split!r}')


@dataclass
class Problem:
    """One problem found while converting.

    Attributes:
        video: Video id (folder name).
        path: The file concerned (``.pts`` or ``vid.avi``).
        kind: A key of :data:`PROBLEM_TITLES`.
        message: What is wrong, starting with the file name.
        frames: 1-based frame numbers concerned (may be empty).
    """
    video: str
    path: str
    kind: str
    message: str
    frames: list = field(default_factory=list)

    @property
    def severity(self) -> str:
        """'error', 'warning' or 'info'."""
        if self.kind in INFO_KINDS:
            return 'info'
        if self.kind in WARNING_KINDS:
            return 'warning'
        return 'error'


class ConversionError(RuntimeError):
    """Raised when a conversion finds errors and ``skip_invalid`` is off."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__(format_problems(self.problems))


@dataclass
class ConvertOptions:
    """Options of a 300VW conversion.

    Attributes:
        pts_origin: 1 (default): .pts files are 1-based, one is subtracted;
            0: values kept (mmpose's converter).
        img_ext: 'jpg' or 'png' for extracted frames.
        jpeg_quality: JPEG quality for 'jpg'.
        broken_frames: video id -> 1-based frame numbers left out of the
            JSON (their images are still extracted).
        num_points: Points expected in every .pts file.
        skip_invalid: Leave invalid frames / videos out with a warning
            instead of raising :class:`ConversionError`.
        overwrite: Re-convert videos already marked done.
    """
    pts_origin: int = 1
    img_ext: str = 'jpg'
    jpeg_quality: int = 95
    broken_frames: dict = field(default_factory=dict)
    num_points: int = 68
    skip_invalid: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.pts_origin not in (0, 1):
            raise ValueError(f'pts_origin must be 0 or 1: {self.pts_origin}')
        if self.img_ext not in ('jpg', 'png'):
            raise ValueError(f"img_ext must be 'jpg' or 'png': {self.img_ext}")

    def fingerprint(self, video: str) -> dict:
        """The options that change a video's output (stored in .done)."""
        return {
            'pts_origin': self.pts_origin,
            'img_ext': self.img_ext,
            'jpeg_quality': self.jpeg_quality,
            'num_points': self.num_points,
            'broken_frames': sorted(
                int(f) for f in self.broken_frames.get(video, [])),
        }


def load_broken_frames(path: PathLike | None) -> dict[str, list[int]]:
    """Read a broken-frame list.

    Args:
        path: ``.npy`` holding a pickled dict (mmpose's
            ``broken_frames.npy``) or ``.json`` object, mapping video id to
            1-based frame numbers. ``None`` gives an empty list.

    Returns:
        dict video id (str) -> sorted list of int frame numbers.
    """
    if path is None:
        return {}
    path = Path(path)
    if path.suffix == '.npy':
        data = np.load(path, allow_pickle=True)
        data = data.item() if data.dtype == object and data.ndim == 0 \
            else data
    else:
        data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a dict video id -> frames')
    return {str(k): sorted(int(f) for f in v) for k, v in data.items()}


def list_videos(raw_root: PathLike) -> list[str]:
    """Sorted names of the sub-folders of ``raw_root`` holding a video.

    A folder counts if it holds ``vid.avi`` or ``annot/``.
    """
    raw_root = Path(raw_root)
    return sorted(p.name for p in raw_root.iterdir() if p.is_dir() and (
        (p / 'vid.avi').exists() or (p / 'annot').is_dir()))


def _scan_annotations(video: str, annot_dir: Path, num_points: int,
                      origin: int) -> tuple[dict, list[Problem]]:
    """Parse every .pts of a video: frame number -> [N, 2] array."""
    problems: list[Problem] = []
    labels: dict[int, np.ndarray] = {}
    if not annot_dir.is_dir():
        problems.append(Problem(video, str(annot_dir), 'missing_annotations',
                                f'{annot_dir}: folder not found'))
        return labels, problems
    names = sorted(p.name for p in annot_dir.iterdir()
                   if p.suffix == '.pts')
    for name in names:
        match = _PTS_NAME.match(name)
        path = annot_dir / name
        if match is None:
            problems.append(Problem(
                video, str(path), 'bad_pts_name',
                f'{path}: name is not a frame number like 000001.pts'))
            continue
        frame = int(match.group(1))
        if frame < 1:
            problems.append(Problem(
                video, str(path), 'bad_pts_name',
                f'{path}: frame numbers start at 1'))
            continue
        try:
            labels[frame] = shift_origin(
                read_pts_decimal(path, num_points), origin)
        except PtsError as exc:
            problems.append(Problem(video, str(path), 'malformed_pts',
                                    str(exc), [frame]))
    bad = {f for p in problems for f in p.frames}
    if not labels and not bad:
        problems.append(Problem(video, str(annot_dir), 'missing_annotations',
                                f'{annot_dir}: no .pts file'))
        return labels, problems
    last = max(list(labels) + list(bad))
    gaps = [f for f in range(1, last + 1) if f not in labels and f not in bad]
    if gaps:
        problems.append(Problem(
            video, str(annot_dir / f'{gaps[0]:06d}.pts'), 'missing_pts',
            f'{annot_dir}: {len(gaps)} missing .pts file(s) below the last '
            f'frame number {last}: '
            + ', '.join(f'{f:06d}.pts' for f in gaps[:8])
            + (' ...' if len(gaps) > 8 else ''), gaps))
    return labels, problems


def _frame_ranges(frames: Sequence[int], limit: int = 8) -> str:
    """'3-5, 9, 12-20' (at most ``limit`` ranges)."""
    ranges: list[list[int]] = []
    for f in sorted(frames):
        if ranges and f == ranges[-1][1] + 1:
            ranges[-1][1] = f
        else:
            ranges.append([f, f])
    text = [f'{a}' if a == b else f'{a}-{b}' for a, b in ranges[:limit]]
    if len(ranges) > limit:
        text.append(f'... ({len(ranges) - limit} more ranges)')
    return ', '.join(text)


def convert_video(raw_root: PathLike, out_root: PathLike, video: str,
                  options: ConvertOptions) -> dict:
    """Extract one video's frames and build its records.

    Args:
        raw_root: Folder holding ``<video>/vid.avi`` and ``<video>/annot``.
        out_root: Folder receiving ``<video>/imgs/*.jpg``.
        video: Video id (folder name).
        options: Conversion options.

    Returns:
        dict with ``video``, ``images`` (list of dicts file_name, height,
        width; no ids yet), ``annotations`` (list of ``[N, 2]`` point lists,
        parallel to ``images``), ``frames`` (1-based frame numbers of the
        records), ``num_decoded`` (frames read from the video),
        ``num_annotated`` (.pts files found), ``problems`` (list of
        :class:`Problem` as dicts) and ``resumed`` (False).
    """
    raw_dir = Path(raw_root) / video
    out_dir = Path(out_root) / video
    labels, problems = _scan_annotations(
        video, raw_dir / 'annot', options.num_points, options.pts_origin)
    bad_frames = {f for p in problems for f in p.frames}
    num_annotated = len(labels) + len(
        [p for p in problems if p.kind == 'malformed_pts'])
    video_path = raw_dir / 'vid.avi'
    num_decoded, size = 0, None
    if not video_path.is_file():
        problems.append(Problem(video, str(video_path), 'missing_video',
                                f'{video_path}: file not found'))
    else:
        cap = cv2.VideoCapture(str(video_path))
        if not cap.isOpened():
            problems.append(Problem(
                video, str(video_path), 'unreadable_video',
                f'{video_path}: OpenCV cannot open the video'))
        else:
            claimed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            img_dir = out_dir / 'imgs'
            img_dir.mkdir(parents=True, exist_ok=True)
            params = ([cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]
                      if options.img_ext == 'jpg' else [])
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                num_decoded += 1
                size = frame.shape[:2]
                name = img_dir / f'{num_decoded:06d}.{options.img_ext}'
                if not cv2.imwrite(str(name), frame, params):
                    raise OSError(f'{name}: cannot write the frame')
            cap.release()
            if num_decoded == 0:
                problems.append(Problem(
                    video, str(video_path), 'unreadable_video',
                    f'{video_path}: no frame could be decoded'))
            elif num_decoded < claimed:
                lost = list(range(num_decoded + 1, claimed + 1))
                problems.append(Problem(
                    video, str(video_path), 'unreadable_frame',
                    f'{video_path}: the container holds {claimed} frames but '
                    f'decoding stopped after {num_decoded}; unreadable '
                    f'frame(s) {_frame_ranges(lost)}', lost))
    annotated = sorted(set(labels) | bad_frames)
    if num_decoded and annotated:
        beyond = [f for f in annotated if f > num_decoded]
        if beyond:
            problems.append(Problem(
                video, str(video_path), 'video_too_short',
                f'{video_path}: {num_decoded} frame(s) decoded but '
                f'{len(beyond)} .pts file(s) label later frames: '
                f'{_frame_ranges(beyond)}', beyond))
        if num_decoded > annotated[-1]:
            extra = list(range(annotated[-1] + 1, num_decoded + 1))
            problems.append(Problem(
                video, str(video_path), 'unannotated_frames',
                f'{video_path}: {num_decoded} frames but .pts files only up '
                f'to frame {annotated[-1]}', extra))
    broken = set(options.broken_frames.get(video, []))
    broken_here = sorted(broken & set(labels))
    if broken_here:
        problems.append(Problem(
            video, str(raw_dir / 'annot'), 'broken_frame',
            f'{raw_dir / "annot"}: {len(broken_here)} frame(s) on the '
            f'broken-frame list left out: {_frame_ranges(broken_here)}',
            broken_here))
    images, points, frames = [], [], []
    fatal = any(p.kind in ('missing_video', 'unreadable_video')
                for p in problems)
    if not fatal:
        for frame in sorted(labels):
            if frame > num_decoded or frame in broken:
                continue
            images.append({
                'file_name': f'{video}/imgs/{frame:06d}.{options.img_ext}',
                'height': int(size[0]),
                'width': int(size[1]),
            })
            points.append(labels[frame].tolist())
            frames.append(frame)
    return {
        'video': video,
        'images': images,
        'annotations': points,
        'frames': frames,
        'num_decoded': num_decoded,
        'num_annotated': num_annotated,
        'problems': [asdict(p) for p in problems],
        'resumed': False,
    }


def _has_errors(result: dict) -> bool:
    return any(Problem(**p).severity == 'error' for p in result['problems'])


def _process_video(args: tuple) -> dict:
    """Pool entry: convert a video unless its done marker matches."""
    raw_root, out_root, video, options = args
    out_dir = Path(out_root) / video
    partial, done = out_dir / PARTIAL_NAME, out_dir / DONE_NAME
    fingerprint = options.fingerprint(video)
    if not options.overwrite and done.is_file() and partial.is_file():
        try:
            if json.loads(done.read_text()) == fingerprint:
                result = json.loads(partial.read_text())
                result['resumed'] = True
                return result
        except (OSError, json.JSONDecodeError):
            pass
    done.unlink(missing_ok=True)
    result = convert_video(raw_root, out_root, video, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = partial.with_suffix('.tmp')
    tmp.write_text(json.dumps(result))
    os.replace(tmp, partial)
    if not _has_errors(result):
        done.write_text(json.dumps(fingerprint))
    return result


def format_problems(problems: Sequence[Problem],
                    max_per_kind: int = 50) -> str:
    """Human-readable summary of problems grouped by kind, by file name."""
    if not problems:
        return 'no problems found'
    by_kind: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_kind[p.kind].append(p)
    lines = []
    for kind in list(PROBLEM_TITLES) + sorted(set(by_kind) -
                                              set(PROBLEM_TITLES)):
        group = by_kind.get(kind)
        if not group:
            continue
        n_frames = sum(len(p.frames) for p in group)
        lines.append(f'[{group[0].severity}] {PROBLEM_TITLES.get(kind, kind)}'
                     f': {len(group)} file(s), {n_frames} frame(s)')
        for p in group[:max_per_kind]:
            lines.append(f'    {p.message}')
        if len(group) > max_per_kind:
            lines.append(f'    ... {len(group) - max_per_kind} more')
    return '\n'.join(lines)


def convert_300vw_raw(raw_root: PathLike,
                      out_root: PathLike,
                      json_path: PathLike,
                      videos: Iterable[str] | None = None,
                      options: ConvertOptions | None = None,
                      workers: int = 1,
                      progress: bool = True) -> dict:
    """Convert raw 300VW videos and write one COCO-style JSON.

    Args:
        raw_root: Folder of ``NNN/vid.avi`` + ``NNN/annot/*.pts``.
        out_root: Folder receiving ``NNN/imgs/*.jpg`` (the dataset's
            ``data_prefix``; ``file_name`` in the JSON is relative to it).
        json_path: The JSON to write (folders are created).
        videos: Video ids, in the order of the JSON; ``None``: every
            sub-folder of ``raw_root`` holding a video, sorted.
        options: :class:`ConvertOptions` (defaults if ``None``).
        workers: Processes decoding videos in parallel (1: in-process).
        progress: Show a tqdm progress bar (counted in annotated frames).

    Returns:
        dict with ``json`` (the written dict), ``problems`` (list of
        :class:`Problem`), ``frames_per_video`` (video -> number of records)
        and ``resumed`` (videos taken from their done markers).

    Raises:
        ConversionError: if any error-level problem was found and
            ``options.skip_invalid`` is off (the JSON is not written; the
            extracted frames stay, videos without errors are marked done).
        FileNotFoundError: if ``raw_root`` does not exist.
    """
    options = options or ConvertOptions()
    raw_root, out_root = Path(raw_root), Path(out_root)
    if not raw_root.is_dir():
        raise FileNotFoundError(f'{raw_root}: raw 300VW folder not found')
    videos = list_videos(raw_root) if videos is None else \
        [str(v) for v in videos]
    if len(set(videos)) != len(videos):
        raise ValueError('duplicate video ids in the video list')
    out_root.mkdir(parents=True, exist_ok=True)
    totals = {}
    for video in videos:
        annot = raw_root / video / 'annot'
        totals[video] = len(list(annot.glob('*.pts'))) if annot.is_dir() \
            else 0
    jobs = [(str(raw_root), str(out_root), v, options) for v in videos]
    results: dict[str, dict] = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=sum(totals.values()), unit='frame',
                   desc='300VW videos', dynamic_ncols=True)

    try:
        for result in map_unordered(_process_video, jobs, workers):
            results[result['video']] = result
            if bar is not None:
                bar.update(totals[result['video']])
                bar.set_postfix_str(result['video'])
    finally:
        if bar is not None:
            bar.close()
    problems = [Problem(**p) for v in videos for p in results[v]['problems']]
    errors = [p for p in problems if p.severity == 'error']
    if errors and not options.skip_invalid:
        raise ConversionError(problems)
    if errors:
        n_videos = len({p.video for p in errors})
        n_frames = sum(len(p.frames) for p in errors)
        logger.warning(
            'skip-invalid: %d problem(s) in %d video(s) (%d frame(s)) left '
            'out of %s:\n%s', len(errors), n_videos, n_frames, json_path,
            format_problems(errors))
    data = {'images': [], 'annotations': [],
            'categories': [dict(FACE_CATEGORY_300VW)]}
    next_id = 0
    for video in videos:
        result = results[video]
        for image, points in zip(result['images'], result['annotations']):
            data['images'].append({**image, 'id': next_id})
            data['annotations'].append(
                vw_annotation(np.asarray(points, dtype=np.float64),
                              next_id, next_id))
            next_id += 1
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = json_path.with_name(json_path.name + '.tmp')
    tmp.write_text(json.dumps(data))
    os.replace(tmp, json_path)
    return {
        'json': data,
        'problems': problems,
        'frames_per_video': {v: len(results[v]['images']) for v in videos},
        'resumed': [v for v in videos if results[v]['resumed']],
    }

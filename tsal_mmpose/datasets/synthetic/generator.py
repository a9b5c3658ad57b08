"""Generate a synthetic 300VW-like benchmark in the official raw layout.

Layout under ``root`` (default ``data/synthetic_300vw``)::

    raw/NNN/vid.avi                 # MJPG (or lossless FFV1) video
    raw/NNN/annot/000001.pts        # iBUG .pts of frame 1, 1-based coords
    raw/NNN/.done                   # written last (resumable generation)
    raw/manifest.json               # settings, sources, per-video spec
    annotations/categories.json     # video id -> 'easy' | 'hard'
    broken_frames.npy               # empty broken-frame list (pickled
                                    # dict, as mmpose's for 300VW)
    # with convert=True (tools/dataset_converters/300vw_raw2coco.py logic):
    images/NNN/imgs/000001.jpg
    annotations/train.json          # training videos
    annotations/test.json           # test videos (easy + hard)
    annotations/test_easy.json, annotations/test_hard.json
    # with train_stills / test_stills > 0 (a labelled image set, 300W style):
    stills/train/000001.jpg         # stills of the training identities
    stills/test/000001.jpg          # stills of the test identities
    annotations/stills_train.json, annotations/stills_test.json

Video ids are ``001``, ``002``, ...: the training videos first, then the
easy and the hard test videos. Every frame is annotated. The .pts files
hold the exact float landmark positions of the warp plus one (written with
6 decimals), so the converter's default ``pts - 1`` returns the
generator's 0-based ground truth to 5e-7 px.

Training and test videos use disjoint source identities
(:data:`.sources.TRAIN_IDENTITIES`, :data:`.sources.TEST_IDENTITIES`);
morphed identities blend two sources of the same split. Everything is
determined by the seed: the plan (identities) by ``rng([seed, 0])``, video
``i``'s content by ``rng([seed, 1, i])``, independent of the number of
worker processes.

A still is one frame of a short video of its own (an identity, motion,
scene and occluders drawn as for a video, at a random time of the track):
the training stills show the training identities, the test stills the test
identities, each still with its own morph, pose and scene. Still ``i`` of a
split is planned by ``rng([seed, 2, s])`` and drawn by ``rng([seed, 3 + s,
i])`` (``s`` = 0 for train, 1 for test), streams apart from the videos', so
adding stills leaves the videos as they were. The JSON files have the
structure of mmpose's 300W JSON (0-based coordinates, one face per image).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

import cv2
import numpy as np

from ..converters.coco_face import FACE_CATEGORY_300W, w300_annotation
from ..converters.parallel import map_unordered
from ..converters.pts_io import write_pts
from .appearance import (BACKGROUND_STYLES, make_background,
                         make_occluder_patch, make_torso_patch)
from .face_shape import Expression, apply_expression, reference_shape
from .motion import PROFILES, make_track
from .renderer import FrameRenderer, build_identity
from .sources import (TEST_IDENTITIES, TRAIN_IDENTITIES, SourceFace,
                      load_source_faces, mirror_face)

__all__ = ['GeneratorConfig', 'VideoSpec', 'plan_videos', 'plan_stills',
           'SyntheticSources', 'make_renderer', 'render_video',
           'convert_benchmark', 'write_video', 'write_stills',
           'generate_benchmark', 'default_faces_dir', 'DEFAULT_ROOT',
           'PACKAGED_FACES_DIR', 'STILL_SPLITS']

PathLike = Union[str, os.PathLike]
DEFAULT_ROOT = 'data/synthetic_300vw'
CODECS = {'mjpg': 'MJPG', 'ffv1': 'FFV1'}
#: The real source faces shipped as package data.
PACKAGED_FACES_DIR = Path(__file__).resolve().parent / 'faces'


def default_faces_dir() -> Path:
    """``$TSAL_FACES_DIR`` if set, else the faces shipped with the package.

    The package's copy is ``tsal_mmpose/datasets/synthetic/faces/`` (see its
    README.md); the variable points the generator at another folder of the
    same layout.
    """
    override = os.environ.get('TSAL_FACES_DIR')
    return Path(override) if override else PACKAGED_FACES_DIR


@dataclass
class GeneratorConfig:
    """Settings of a synthetic benchmark.

    Attributes:
        seed: Master seed.
        train_videos: Training videos (mixed easy / hard).
        test_easy_videos: Test videos of category 'easy'.
        test_hard_videos: Test videos of category 'hard'.
        frames: Frames per video.
        width: Frame width (px).
        height: Frame height (px).
        fps: Frame rate written in the video header; motion is designed
            for 25.
        codec: 'mjpg' (OpenCV's MJPEG writer) or 'ffv1' (lossless).
        quality: MJPEG quality (1-100).
        train_hard_fraction: Share of 'hard' training videos.
        morph_prob: Probability that a video's identity morphs two sources.
        train_identities: Source identities of the training videos.
        test_identities: Source identities of the test videos.
        train_stills: Labelled stills of the training identities.
        test_stills: Labelled stills of the test identities.
        still_track_frames: Length of the short track a still is taken
            from.
        motion_speed: Time scale of head motion and expressions
            (:func:`make_track`'s ``speed``): above 1, the frames between
            two labelled ones differ more, so labels on them are worth
            more (the label-efficiency benchmark).
    """
    seed: int = 0
    train_videos: int = 24
    test_easy_videos: int = 8
    test_hard_videos: int = 8
    frames: int = 500
    width: int = 320
    height: int = 240
    fps: float = 25.0
    codec: str = 'mjpg'
    quality: int = 95
    train_hard_fraction: float = 0.5
    morph_prob: float = 0.65
    train_identities: tuple = TRAIN_IDENTITIES
    test_identities: tuple = TEST_IDENTITIES
    train_stills: int = 0
    test_stills: int = 0
    still_track_frames: int = 50
    motion_speed: float = 1.0

    def __post_init__(self) -> None:
        self.train_identities = tuple(self.train_identities)
        self.test_identities = tuple(self.test_identities)
        shared = set(self.train_identities) & set(self.test_identities)
        if shared:
            raise ValueError(f'train and test sources overlap: {shared}')
        if self.codec not in CODECS:
            raise ValueError(f'codec must be one of {list(CODECS)}')
        if min(self.width, self.height) < 64 or self.frames < 1:
            raise ValueError('frames must be >= 1 and frames >= 64x64 px')
        if min(self.train_stills, self.test_stills) < 0 or \
                self.still_track_frames < 1:
            raise ValueError('still counts must be >= 0 and '
                             'still_track_frames >= 1')
        if self.motion_speed <= 0:
            raise ValueError(
                f'motion_speed must be positive, got {self.motion_speed}')


@dataclass
class VideoSpec:
    """What one video shows (drawn by :func:`plan_videos`)."""
    video_id: str
    index: int
    split: str
    category: str
    frames: int
    source_a: str
    source_b: str | None
    weight: float
    mirror_a: bool
    mirror_b: bool
    colour_gain: list = field(default_factory=lambda: [1.0, 1.0, 1.0])


def plan_videos(config: GeneratorConfig,
                images_of: dict[str, list[str]]) -> list[VideoSpec]:
    """Draw the identity of every video.

    Args:
        config: Settings.
        images_of: identity -> names of its source images.

    Returns:
        Specs in video-id order (train, test easy, test hard).
    """
    rng = np.random.default_rng([config.seed, 0])
    n_train_hard = int(round(config.train_videos *
                             config.train_hard_fraction))
    train_cats = ['hard' if i < n_train_hard else 'easy'
                  for i in range(config.train_videos)]
    train_cats = [train_cats[i] for i in rng.permutation(len(train_cats))]
    groups = ([('train', c) for c in train_cats] +
              [('test', 'easy')] * config.test_easy_videos +
              [('test', 'hard')] * config.test_hard_videos)
    return [
        _draw_spec(rng, config, images_of, index, split, category,
                   config.frames, f'{index + 1:03d}')
        for index, (split, category) in enumerate(groups)
    ]


def _draw_spec(rng: np.random.Generator, config: GeneratorConfig,
               images_of: dict[str, list[str]], index: int, split: str,
               category: str, frames: int, video_id: str) -> VideoSpec:
    """The identity (sources, morph, mirroring, colour) of one video."""
    pool = list(config.train_identities if split == 'train'
                else config.test_identities)
    a = pool[rng.integers(len(pool))]
    morph = len(pool) > 1 and rng.random() < config.morph_prob
    b = [p for p in pool if p != a][rng.integers(len(pool) - 1)] \
        if morph else None
    weight = float(rng.uniform(0.25, 0.75)) if morph else 0.0
    img_a = images_of[a][rng.integers(len(images_of[a]))]
    img_b = images_of[b][rng.integers(len(images_of[b]))] if morph \
        else None
    return VideoSpec(
        video_id=video_id, index=index, split=split,
        category=category, frames=frames, source_a=img_a,
        source_b=img_b, weight=round(weight, 4),
        mirror_a=bool(rng.random() < 0.5),
        mirror_b=bool(rng.random() < 0.5),
        colour_gain=[round(float(g), 4)
                     for g in 1 + rng.normal(0, 0.05, 3)])


#: The splits of the still image sets, in the order of their random streams.
STILL_SPLITS = ('train', 'test')


def plan_stills(config: GeneratorConfig, images_of: dict[str, list[str]],
                split: str) -> list[tuple[VideoSpec, int]]:
    """Draw the identity and the frame of every still of a split.

    Args:
        config: Settings (``train_stills`` / ``test_stills``).
        images_of: identity -> names of its source images.
        split: ``'train'`` (training identities) or ``'test'``.

    Returns:
        ``(spec, frame)`` per still: the short video it is taken from
        (``config.still_track_frames`` frames, id ``'s000001'``...) and the
        0-based frame shown. Training stills are 'hard' in the share
        ``train_hard_fraction``, test stills half and half.
    """
    count = config.train_stills if split == 'train' else config.test_stills
    stream = STILL_SPLITS.index(split)
    rng = np.random.default_rng([config.seed, 2, stream])
    hard = config.train_hard_fraction if split == 'train' else 0.5
    n_hard = int(round(count * hard))
    cats = ['hard' if i < n_hard else 'easy' for i in range(count)]
    cats = [cats[i] for i in rng.permutation(count)]
    stills = []
    for index, category in enumerate(cats):
        spec = _draw_spec(rng, config, images_of, index, split, category,
                          config.still_track_frames, f's{index + 1:06d}')
        stills.append((spec, int(rng.integers(config.still_track_frames))))
    return stills


def write_stills(root: PathLike, config: GeneratorConfig,
                 sources: 'SyntheticSources', split: str,
                 progress: bool = True, overwrite: bool = False) -> str:
    """Write the stills of a split and their 300W-style JSON.

    Layout: ``root/stills/<split>/000001.jpg`` (JPEG at ``quality``) and
    ``root/annotations/stills_<split>.json`` (``file_name``
    ``'<split>/000001.jpg'``, relative to ``root/stills/``). A split whose
    ``.done`` marker matches the settings is left as it is (unless
    ``overwrite``).

    Returns:
        The JSON path.
    """
    root = Path(root)
    folder = root / 'stills' / split
    json_path = root / 'annotations' / f'stills_{split}.json'
    done = folder / '.done'
    fingerprint = {
        key: value for key, value in asdict(config).items()
        if key not in ('train_videos', 'test_easy_videos',
                       'test_hard_videos', 'frames', 'fps', 'codec')
    }
    fingerprint['train_identities'] = list(config.train_identities)
    fingerprint['test_identities'] = list(config.test_identities)
    if not overwrite and done.is_file() and json_path.is_file():
        try:
            if json.loads(done.read_text()) == fingerprint:
                return str(json_path)
        except (OSError, json.JSONDecodeError):
            pass
    done.unlink(missing_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    stills = plan_stills(config, sources.images_of, split)
    data = {'categories': [dict(FACE_CATEGORY_300W)], 'images': [],
            'annotations': []}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(stills), unit='still',
                   desc=f'synthetic stills ({split})', dynamic_ncols=True)
    try:
        stream = 3 + STILL_SPLITS.index(split)
        for spec, frame_index in stills:
            renderer = make_renderer(spec, config, sources, stream=stream)
            frame, points = renderer.render(frame_index)
            name = f'{spec.index + 1:06d}.jpg'
            if not cv2.imwrite(str(folder / name), frame,
                               [cv2.IMWRITE_JPEG_QUALITY, config.quality]):
                raise OSError(f'{folder / name}: OpenCV cannot write it')
            data['images'].append({
                'id': spec.index, 'file_name': f'{split}/{name}',
                'height': int(frame.shape[0]), 'width': int(frame.shape[1])})
            data['annotations'].append(
                w300_annotation(points, spec.index, spec.index))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data))
    done.write_text(json.dumps(fingerprint))
    return str(json_path)


class SyntheticSources:
    """Source faces and the per-split canonical reference shapes.

    Args:
        faces_dir: Folder of the source faces (see :mod:`.sources`).
        config: Settings (which identities go to which split).
    """

    def __init__(self, faces_dir: PathLike, config: GeneratorConfig):
        faces = load_source_faces(
            faces_dir, config.train_identities + config.test_identities)
        self.faces: dict[str, SourceFace] = {f.name: f for f in faces}
        self.images_of: dict[str, list[str]] = {}
        for f in faces:
            self.images_of.setdefault(f.identity, []).append(f.name)
        self.split_of = {i: 'train' for i in config.train_identities}
        self.split_of.update({i: 'test' for i in config.test_identities})
        self.reference = {
            split: reference_shape([f.points for f in faces
                                    if self.split_of[f.identity] == split])
            for split in ('train', 'test')}

    def face(self, name: str, mirror: bool) -> SourceFace:
        """A source image, mirrored if asked."""
        face = self.faces[name]
        return mirror_face(face) if mirror else face


def make_renderer(spec: VideoSpec, config: GeneratorConfig,
                  sources: SyntheticSources,
                  stream: int = 1) -> FrameRenderer:
    """Build the identity, trajectories, scene and renderer of a video.

    ``stream`` picks the random stream: 1 for the videos, ``3 + s`` for
    the stills of split ``s`` (:func:`write_stills`).
    """
    rng = np.random.default_rng([config.seed, stream, spec.index])
    reference = sources.reference[spec.split]
    face_b = sources.face(spec.source_b, spec.mirror_b) \
        if spec.source_b else None
    identity = build_identity(sources.face(spec.source_a, spec.mirror_a),
                              face_b, spec.weight, reference,
                              np.array(spec.colour_gain),
                              face_level=float(rng.uniform(95, 165)))
    profile = PROFILES[spec.category]
    size = (config.width, config.height)
    margin = (int(0.1 * config.width), int(0.1 * config.height))
    stretched = apply_expression(identity.vertices,
                                 Expression(mouth=1, brows=1))[:68]
    extent = float(np.linalg.norm(stretched - identity.centre, axis=1).max()
                   ) / identity.width + 0.05
    track = make_track(rng, spec.frames, profile, size, margin, extent,
                       speed=config.motion_speed)
    background = make_background(
        rng, config.height + 2 * margin[1], config.width + 2 * margin[0],
        BACKGROUND_STYLES[rng.integers(len(BACKGROUND_STYLES))])
    occluders = [
        make_occluder_patch(rng, max(8, int(rng.uniform(
            *profile.occluder_size) * track.face_px * 1.6)))
        for _ in range(track.occ_x.shape[1])]
    grey = bool(rng.random() < (0.5 if identity.grey else
                                profile.grey_prob))
    torso = make_torso_patch(rng) if rng.random() < 0.85 else None
    return FrameRenderer(identity, track, profile, size, background,
                         occluders, grey, rng, torso=torso,
                         torso_width=float(rng.uniform(2.3, 2.9)))


def render_video(spec: VideoSpec, config: GeneratorConfig,
                 sources: SyntheticSources
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(frame [H, W, 3] uint8, landmarks [68, 2])`` of a video."""
    renderer = make_renderer(spec, config, sources)
    for k in range(spec.frames):
        yield renderer.render(k)


def _fingerprint(spec: VideoSpec, config: GeneratorConfig) -> dict:
    cfg = asdict(config)
    # the video counts and the stills do not change a video's content
    for key in ('train_videos', 'test_easy_videos', 'test_hard_videos',
                'train_stills', 'test_stills', 'still_track_frames'):
        cfg.pop(key)
    if cfg['motion_speed'] == 1.0:  # videos made before the setting existed
        cfg.pop('motion_speed')
    cfg['train_identities'] = list(cfg['train_identities'])
    cfg['test_identities'] = list(cfg['test_identities'])
    return {'spec': asdict(spec), 'config': cfg}


def write_video(spec: VideoSpec, config: GeneratorConfig,
                sources: SyntheticSources, raw_root: PathLike,
                keep_landmarks: bool = False, overwrite: bool = False
                ) -> dict:
    """Write ``raw_root/NNN/vid.avi`` and ``annot/*.pts`` of one video.

    A video whose ``.done`` marker matches the spec and settings is left
    as it is (unless ``overwrite``).

    Returns:
        dict with ``video_id``, ``frames`` (written, 0 if skipped),
        ``seconds``, ``cpu_seconds`` (of this process), ``backoffs``
        (turn / expression reductions made to avoid a folded mesh) and,
        if ``keep_landmarks``, ``landmarks`` ``[frames, 68, 2]``.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    video_dir = Path(raw_root) / spec.video_id
    done = video_dir / '.done'
    fingerprint = _fingerprint(spec, config)
    if not overwrite and not keep_landmarks and done.is_file():
        try:
            if json.loads(done.read_text()) == fingerprint:
                return {'video_id': spec.video_id, 'frames': 0,
                        'seconds': 0.0, 'cpu_seconds': 0.0, 'backoffs': 0}
        except (OSError, json.JSONDecodeError):
            pass
    done.unlink(missing_ok=True)
    annot = video_dir / 'annot'
    if annot.exists():
        shutil.rmtree(annot)
    annot.mkdir(parents=True)
    path = video_dir / 'vid.avi'
    fourcc = cv2.VideoWriter_fourcc(*CODECS[config.codec])
    size = (config.width, config.height)
    if config.codec == 'mjpg':
        writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, fourcc,
                                 config.fps, size,
                                 [cv2.VIDEOWRITER_PROP_QUALITY,
                                  config.quality])
    else:
        writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, fourcc,
                                 config.fps, size)
    if not writer.isOpened():
        raise OSError(f'{path}: OpenCV cannot write {config.codec} video')
    landmarks = []
    renderer = make_renderer(spec, config, sources)
    try:
        for k in range(1, spec.frames + 1):
            frame, points = renderer.render(k - 1)
            writer.write(frame)
            write_pts(annot / f'{k:06d}.pts', points, origin=1)
            if keep_landmarks:
                landmarks.append(points)
    finally:
        writer.release()
    done.write_text(json.dumps(fingerprint))
    result = {'video_id': spec.video_id, 'frames': spec.frames,
              'seconds': time.perf_counter() - start,
              'cpu_seconds': time.process_time() - cpu_start,
              'backoffs': renderer.backoffs}
    if keep_landmarks:
        result['landmarks'] = np.stack(landmarks)
    return result


_WORKER: dict = {}


def _work(spec: VideoSpec) -> dict:
    w = _WORKER
    return write_video(spec, w['config'], w['sources'], w['raw_root'],
                       w['keep_landmarks'], w['overwrite'])


def generate_benchmark(root: PathLike = DEFAULT_ROOT,
                       config: GeneratorConfig | None = None,
                       faces_dir: PathLike | None = None,
                       workers: int = 1,
                       convert: bool = False,
                       overwrite: bool = False,
                       keep_landmarks: bool = False,
                       progress: bool = True,
                       log: Callable[[str], None] | None = print) -> dict:
    """Generate (and optionally convert) a synthetic benchmark.

    Args:
        root: Output root (layout in the module docstring).
        config: Settings (defaults: :class:`GeneratorConfig`).
        faces_dir: Folder of the source faces
            (default :func:`default_faces_dir`).
        workers: Processes, one video at a time each.
        convert: Also extract frames and write the COCO-style JSON files.
        overwrite: Regenerate videos already marked done.
        keep_landmarks: Return every video's ground truth (small runs).
        progress: tqdm progress bar.
        log: Receives the summary lines (``None``: silent).

    Returns:
        dict with ``specs`` (list of :class:`VideoSpec`), ``frames``
        (frames rendered now), ``seconds`` (wall time of the rendering),
        ``fps`` (frames per second), ``cpu_fps`` (frames per CPU-second
        of one worker: the rate of one free core), ``landmarks`` (video
        id -> ``[n, 68, 2]``, only with ``keep_landmarks``),
        ``categories`` (video id -> category), with ``convert``,
        ``json`` (split -> path), and ``stills`` (split -> JSON path of the
        still image sets written, :func:`write_stills`).
    """
    config = config or GeneratorConfig()
    root = Path(root)
    raw_root = root / 'raw'
    raw_root.mkdir(parents=True, exist_ok=True)
    sources = SyntheticSources(faces_dir or default_faces_dir(), config)
    specs = plan_videos(config, sources.images_of)
    _WORKER.update(config=config, sources=sources, raw_root=raw_root,
                   keep_landmarks=keep_landmarks, overwrite=overwrite)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=sum(s.frames for s in specs), unit='frame',
                   desc='synthetic 300VW', dynamic_ncols=True)
    results = {}
    start = time.perf_counter()

    try:
        for result in map_unordered(_work, specs, workers):
            results[result['video_id']] = result
            if bar is not None:
                bar.update(config.frames)
    finally:
        if bar is not None:
            bar.close()
        _WORKER.clear()
    seconds = time.perf_counter() - start
    rendered = sum(r['frames'] for r in results.values())
    cpu_seconds = sum(r['cpu_seconds'] for r in results.values())
    categories = {s.video_id: s.category for s in specs}
    manifest = {
        'config': {**asdict(config),
                   'train_identities': list(config.train_identities),
                   'test_identities': list(config.test_identities)},
        'layout': 'NNN/vid.avi + NNN/annot/%06d.pts (1-based frames, '
                  '1-based pixel coordinates)',
        'videos': [asdict(s) for s in specs],
    }
    (raw_root / 'manifest.json').write_text(json.dumps(manifest, indent=1))
    ann_dir = root / 'annotations'
    ann_dir.mkdir(parents=True, exist_ok=True)
    (ann_dir / 'categories.json').write_text(json.dumps(categories,
                                                        indent=1))
    np.save(root / 'broken_frames.npy', np.array({}, dtype=object),
            allow_pickle=True)
    out = {'specs': specs, 'frames': rendered, 'seconds': seconds,
           'fps': rendered / seconds if seconds > 0 else 0.0,
           'cpu_fps': rendered / cpu_seconds if cpu_seconds > 0 else 0.0,
           'categories': categories}
    if keep_landmarks:
        out['landmarks'] = {v: r['landmarks'] for v, r in results.items()}
    if log is not None:
        log(f'rendered {rendered} frames of {len(specs)} videos in '
            f'{seconds:.1f} s: {out["fps"]:.1f} frames/s with {workers} '
            f'worker(s) at {config.width}x{config.height} '
            f'({out["cpu_fps"]:.1f} frames per CPU-second of a worker)')
    if convert:
        out['json'] = convert_benchmark(root, specs, workers, progress)
        if log is not None:
            for split, path in out['json'].items():
                log(f'{split}: {path}')
    counts = dict(train=config.train_stills, test=config.test_stills)
    out['stills'] = {
        split: write_stills(root, config, sources, split, progress,
                            overwrite)
        for split in STILL_SPLITS if counts[split]
    }
    if log is not None:
        for split, path in out['stills'].items():
            log(f'stills_{split}: {path} ({counts[split]} images)')
    return out


def convert_benchmark(root: PathLike, specs: Sequence[VideoSpec],
                      workers: int = 1, progress: bool = True
                      ) -> dict[str, str]:
    """Run the raw-300VW converter on a generated benchmark.

    Returns:
        split name -> JSON path (train, test, test_easy, test_hard).
    """
    from ..converters.raw_300vw import ConvertOptions, convert_300vw_raw
    root = Path(root)
    groups = {
        'train': [s.video_id for s in specs if s.split == 'train'],
        'test': [s.video_id for s in specs if s.split == 'test'],
        'test_easy': [s.video_id for s in specs
                      if s.split == 'test' and s.category == 'easy'],
        'test_hard': [s.video_id for s in specs
                      if s.split == 'test' and s.category == 'hard'],
    }
    paths = {}
    for name, videos in groups.items():
        path = root / 'annotations' / f'{name}.json'
        convert_300vw_raw(root / 'raw', root / 'images', path, videos=videos,
                          options=ConvertOptions(pts_origin=1),
                          workers=workers, progress=progress)
        paths[name] = str(path)
    return paths

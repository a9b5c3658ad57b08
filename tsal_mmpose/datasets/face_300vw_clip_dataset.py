"""300VW as clips of consecutive frames with sparse labels (Sec. 4.1).

The paper trains on 300VW videos where only one frame in ``label_stride``
(10) carries a label: a training sample is a clip of ``clip_len`` (K)
consecutive frames whose first frame is labelled and whose other frames are
used without labels (Sec. 3, Eq. 1-5). This module groups the frames of
mmpose's COCO-style 300VW annotation file (one image entry per frame,
``file_name`` like ``001/imgs/000006.jpg``) into such clips.

Rules, all explicit:

* **Frame identity.** The video id is the first component of
  ``file_name`` and the 1-based frame number the digits of its base name
  (``001/imgs/000006.jpg`` -> video ``'001'``, frame 6).
* **Broken frames.** Frames listed in ``broken_frames_file`` (a pickled
  dict ``video -> [1-based frame numbers]``, read with
  ``np.load(path, allow_pickle=True).item()``, or a json file holding such
  a dict) are never labelled, never evaluated and never part
  of a clip: they are removed from the frame list when they appear in the
  annotation file, and their count is logged. A removed (or absent) frame
  leaves a gap in the frame numbers.
* **Segments.** The frames of a video, sorted by frame number, are cut into
  segments wherever two neighbours are more than ``max_frame_gap`` frame
  numbers apart (default 1: clips only hold truly consecutive frames).
  Clips never cross a segment boundary.
* **Labelled frames.** Frame ``f`` is a labelled frame when ``(f - 1) %
  label_stride == 0`` (frames 1, 11, 21, ... for the stride 10 protocol):
  the frame's 0-based index in the video is a multiple of the stride. The
  rule depends on the frame number alone, so removing broken frames never
  shifts the labelled set.
* **Training clips** (``test_mode=False``) start at every labelled frame
  that has ``clip_len - 1`` successors in its segment; the clip's first
  frame is the only labelled one (``labelled=True``), the others are
  unlabelled and their annotation is hidden from the losses (see
  ``PackClipInputs``). Labelled frames too close to the end of their
  segment give no clip; their count is logged. Every frame of a training
  clip is cropped with the labelled frame's box (``bbox``, ``bbox_center``,
  ``bbox_scale``), never with its own annotation.
* **Test clips** (``test_mode=True``) tile every segment into consecutive
  clips of ``clip_len`` frames, so that every (non-broken) annotated frame
  of every video is in exactly one clip. The last clip of a segment may be
  shorter: its frames carry the actual length as ``clip_len``. With
  ``pad_last_clip=True`` it is instead padded to ``clip_len`` by repeating
  its last frame; the repeats carry ``evaluate=False`` (the metric skips
  them). ``labelled`` follows the stride rule. The crop box of every frame
  is the clip's first frame box (``test_bbox='first'``, the default) or
  the frame's own box (``test_bbox='own'``); ``bbox`` (packed as
  ``gt_instances.bboxes``, used by box-normalised NME) always stays the
  frame's own box.

A clip handed to the pipeline is a dict with ``frames`` (a list of K
mmpose top-down data infos, one per frame, each with the dataset metainfo
keys ``flip_indices``, ``dataset_name``, ...), ``clip_len``, ``video_id``,
``category`` and ``sample_idx``. Each frame dict carries ``clip_len``,
``frame_index`` (0..K-1), ``labelled``, ``video_id``, ``frame_id`` (1-based
frame number), ``category`` (``None`` when unknown), ``evaluate`` and
``gt_hidden`` (``True`` for the unlabelled frames of a training clip).

Coordinates are taken unchanged from the annotation file (mmpose's own
300VW converter copies the 1-based ``.pts`` values,
``tools/dataset_converters/300vw_raw2coco.py`` writes 0-based ones by
default).
"""
import logging
import os.path as osp
import re
from collections import defaultdict
from copy import deepcopy
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple, Union)

import mmpose
import numpy as np
from mmengine.fileio import exists, load
from mmengine.logging import print_log
from mmpose.datasets.datasets.face import Face300VWDataset
from mmpose.registry import DATASETS

from .converters.raw_300vw import load_broken_frames

__all__ = ['Face300VWClipDataset', 'parse_frame_name']

_MMPOSE_300VW_METAINFO = osp.join(
    osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets',
    '300vw.py')
if not osp.isfile(_MMPOSE_300VW_METAINFO):  # source checkout of mmpose
    _MMPOSE_300VW_METAINFO = 'configs/_base_/datasets/300vw.py'

_FILE_NAME_RE = re.compile(
    r'^(?P<video>[^/]+)/(?:.*/)?(?P<frame>\d+)\.[A-Za-z0-9]+$')


def _video_key(video: Any) -> str:
    """Canonical form of a video id: ``'001'``, ``'1'`` and ``1`` match."""
    text = str(video).strip()
    return str(int(text)) if text.isdigit() else text


def parse_frame_name(file_name: str) -> Tuple[str, int]:
    """Video id and 1-based frame number of a 300VW frame file name.

    Args:
        file_name (str): Path relative to the image root, e.g.
            ``'001/imgs/000006.jpg'``.

    Returns:
        tuple[str, int]: The video id (first path component, e.g.
        ``'001'``) and the frame number (digits of the base name, e.g. 6).

    Raises:
        ValueError: When the name does not look like
            ``<video>/[...]/<digits>.<ext>``.
    """
    match = _FILE_NAME_RE.match(str(file_name).replace('\\', '/'))
    if match is None:
        raise ValueError(
            f'file_name {file_name!r} is not of the form '
            '"<video>/[<dirs>/]<frame number>.<ext>"')
    return match['video'], int(match['frame'])


def _broken_frames(path: str) -> Dict[str, set]:
    """Canonical video id -> broken 1-based frame numbers, from ``path``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'broken-frame list {path} does not exist')
    try:
        raw = load_broken_frames(path)
    except (TypeError, ValueError) as err:
        raise ValueError(f'broken-frame list {path}: {err}') from err
    broken: Dict[str, set] = defaultdict(set)
    for video, frames in raw.items():
        broken[_video_key(video)].update(frames)
    return dict(broken)


@DATASETS.register_module()
class Face300VWClipDataset(Face300VWDataset):
    """300VW clips of ``clip_len`` consecutive frames, first frame labelled.

    One item is one clip (see the module docstring for the rules on broken
    frames, segments, labelled frames, training / test clips and boxes).
    Frames are parsed by mmpose's :class:`Face300VWDataset` (68 iBUG
    points, ``center`` / ``scale`` boxes with ``scale * 200`` pixels).

    Args:
        ann_file (str): COCO-style annotation file of mmpose's 300VW
            converter.
        clip_len (int): Frames per clip, K. Defaults to 10.
        label_stride (int): One labelled frame every ``label_stride`` frames
            (frames ``1, 1 + s, 1 + 2s, ...``). Defaults to 10.
        max_frame_gap (int): Largest difference of frame numbers between
            neighbouring frames of one clip. Defaults to 1.
        broken_frames_file (str, optional): Broken-frame list (relative paths
            are taken under ``data_root``). Defaults to None (no list).
        categories (dict | str, optional): Video id -> category (e.g.
            ``'A'``, ``'B'``, ``'C'``), or a json/yaml/pkl file holding that
            dict (relative to ``data_root``). Overrides a ``category`` field
            of the image entries. Defaults to None.
        test_bbox (str): Crop box of the frames of a test clip: ``'first'``
            (the clip's first frame box) or ``'own'``. Defaults to
            ``'first'``.
        pad_last_clip (bool): In test mode, pad a segment's last, shorter
            clip to ``clip_len`` by repeating its last frame (marked
            ``evaluate=False``) instead of keeping it shorter. Defaults to
            False.
        skip_invalid (bool): Skip invalid entries (malformed annotation,
            missing image, duplicate frame) with one logged warning giving
            their count, instead of raising. Defaults to False.
        check_images (bool): Check at load time that every image file
            exists. Defaults to True.
        metainfo, data_root, data_prefix, indices, serialize_data, pipeline,
        test_mode, lazy_init, max_refetch: As in mmengine's ``BaseDataset``.
        filter_cfg: Not supported; must be None.
    """

    # mmpose's 300VW metainfo, by absolute path: the relative default is
    # looked up in the working directory first.
    METAINFO: dict = dict(from_file=_MMPOSE_300VW_METAINFO)

    def __init__(self,
                 ann_file: str = '',
                 clip_len: int = 10,
                 label_stride: int = 10,
                 max_frame_gap: int = 1,
                 broken_frames_file: Optional[str] = None,
                 categories: Union[Mapping[Any, str], str, None] = None,
                 test_bbox: str = 'first',
                 pad_last_clip: bool = False,
                 skip_invalid: bool = False,
                 check_images: bool = True,
                 metainfo: Optional[dict] = None,
                 data_root: Optional[str] = None,
                 data_prefix: dict = dict(img=''),
                 filter_cfg: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 pipeline: List[Union[dict, Callable]] = [],
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        for name, value in (('clip_len', clip_len),
                            ('label_stride', label_stride),
                            ('max_frame_gap', max_frame_gap)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(
                    f'{name} must be a positive int, got {value!r}')
        if test_bbox not in ('first', 'own'):
            raise ValueError(
                f"test_bbox must be 'first' or 'own', got {test_bbox!r}")
        if filter_cfg is not None:
            raise ValueError(
                f'{self.__class__.__name__} does not support filter_cfg '
                '(clips are built from every valid frame)')
        self.clip_len = int(clip_len)
        self.label_stride = int(label_stride)
        self.max_frame_gap = int(max_frame_gap)
        self.test_bbox = test_bbox
        self.pad_last_clip = bool(pad_last_clip)
        self.skip_invalid = bool(skip_invalid)
        self.check_images = bool(check_images)
        self.broken_frames_file = self._under_root(broken_frames_file,
                                                   data_root)
        if isinstance(categories, str):
            categories = self._under_root(categories, data_root)
        self._categories_arg = categories
        super().__init__(
            ann_file=ann_file,
            data_mode='topdown',
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            filter_cfg=None,
            indices=indices,
            serialize_data=serialize_data,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    # ------------------------------------------------------------------
    @staticmethod
    def _under_root(path: Optional[str],
                    data_root: Optional[str]) -> Optional[str]:
        """Join a relative path to ``data_root`` (as mmengine does)."""
        if path is None or data_root is None or osp.isabs(path):
            return path
        return osp.join(data_root, path)

    def is_labelled_frame(self, frame_id: int) -> bool:
        """Whether the 1-based frame ``frame_id`` is a labelled frame."""
        return (int(frame_id) - 1) % self.label_stride == 0

    def _load_categories(self) -> Dict[str, str]:
        """Canonical video id -> category, from the ``categories`` arg."""
        cats = self._categories_arg
        if cats is None:
            return {}
        if isinstance(cats, str):
            if not exists(cats):
                raise FileNotFoundError(
                    f'categories file {cats} does not exist')
            source = cats
            cats = load(cats)
        else:
            source = 'the categories argument'
        if not isinstance(cats, Mapping):
            raise ValueError(f'{source} must be a dict video id -> category, '
                             f'got {type(cats).__name__}')
        return {_video_key(k): str(v) for k, v in cats.items()}

    # ------------------------------------------------------------------
    def _check_ann(self, ann: Any, num_keypoints: int) -> None:
        """Raise ``ValueError`` describing what is wrong with ``ann``."""
        if not isinstance(ann, Mapping):
            raise ValueError('annotation is not a dict')
        for key in ('keypoints', 'center', 'scale'):
            if key not in ann:
                raise ValueError(f'annotation id {ann.get("id")} has no '
                                 f'"{key}"')
        try:
            kpts = np.asarray(ann['keypoints'], dtype=np.float64)
            center = np.asarray(ann['center'], dtype=np.float64)
            scale = np.asarray(ann['scale'], dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f'annotation id {ann.get("id")} has '
                             f'non-numeric values ({err})') from err
        if kpts.shape != (num_keypoints * 3, ):
            raise ValueError(
                f'annotation id {ann.get("id")}: "keypoints" has '
                f'{kpts.size} values, expected {num_keypoints * 3} '
                f'({num_keypoints} points x (x, y, v))')
        if center.shape != (2, ):
            raise ValueError(f'annotation id {ann.get("id")}: "center" must '
                             f'be [x, y], got {ann["center"]!r}')
        if scale.ndim != 0 or not scale > 0:
            raise ValueError(f'annotation id {ann.get("id")}: "scale" must '
                             f'be a positive number, got {ann["scale"]!r}')
        if not (np.isfinite(kpts).all() and np.isfinite(center).all()
                and np.isfinite(scale)):
            raise ValueError(f'annotation id {ann.get("id")} has '
                             'non-finite values')

    def _load_frames(self) -> List[dict]:
        """Parse and validate every frame of the annotation file.

        Returns:
            list[dict]: mmpose top-down data infos (from
            :meth:`Face300VWDataset.parse_data_info`) plus ``video_id``,
            ``frame_id`` and ``category``; broken frames are removed.
        """
        ann_file = self.ann_file
        if not exists(ann_file):
            raise FileNotFoundError(
                f'annotation file {ann_file} does not exist')
        try:
            data = load(ann_file)
        except Exception as err:
            raise ValueError(f'annotation file {ann_file} could not be '
                             f'read: {err}') from err
        if not isinstance(data, Mapping) or not isinstance(
                data.get('images'), list) or not isinstance(
                    data.get('annotations'), list):
            raise ValueError(
                f'annotation file {ann_file} is not COCO style: it needs '
                'lists "images" and "annotations"')
        if 'categories' in data:
            self._metainfo['CLASSES'] = data['categories']

        num_keypoints = int(self._metainfo['num_keypoints'])
        broken = (_broken_frames(self.broken_frames_file)
                  if self.broken_frames_file else {})
        categories = self._load_categories()

        invalid: List[str] = []

        def _invalid(message: str, missing_file: bool = False) -> None:
            text = f'{ann_file}: {message}'
            if not self.skip_invalid:
                raise (FileNotFoundError(text)
                       if missing_file else ValueError(text))
            invalid.append(text)

        images: Dict[Any, dict] = {}
        for i, img in enumerate(data['images']):
            if not isinstance(img, Mapping) or 'id' not in img or \
                    'file_name' not in img:
                _invalid(f'image entry #{i} needs "id" and "file_name"')
                continue
            if img['id'] in images:
                _invalid(f'image id {img["id"]} appears twice')
                continue
            images[img['id']] = img

        anns_of: Dict[Any, List[Any]] = defaultdict(list)
        for i, ann in enumerate(data['annotations']):
            if not isinstance(ann, Mapping) or 'image_id' not in ann:
                _invalid(f'annotation entry #{i} has no "image_id"')
            elif ann['image_id'] not in images:
                _invalid(f'annotation id {ann.get("id")} refers to unknown '
                         f'image id {ann["image_id"]}')
            else:
                anns_of[ann['image_id']].append(ann)

        frames: List[dict] = []
        seen: Dict[Tuple[str, int], str] = {}
        num_broken = 0
        for img_id, img in images.items():
            file_name = img['file_name']
            where = f'image "{file_name}" (id {img_id})'
            try:
                video_id, frame_id = parse_frame_name(file_name)
            except ValueError as err:
                _invalid(f'{where}: {err}')
                continue
            if frame_id < 1:
                _invalid(f'{where}: frame numbers are 1-based, got '
                         f'{frame_id}')
                continue
            if frame_id in broken.get(_video_key(video_id), ()):
                num_broken += 1
                continue
            anns = anns_of.get(img_id, [])
            if len(anns) != 1:
                _invalid(f'{where} has {len(anns)} annotations, expected '
                         'exactly one face per frame')
                continue
            ann = dict(anns[0])
            ann.setdefault('iscrowd', 0)
            ann.setdefault('num_keypoints', num_keypoints)
            ann.setdefault('id', img_id)
            try:
                self._check_ann(ann, num_keypoints)
            except ValueError as err:
                _invalid(f'{where}: {err}')
                continue
            key = (_video_key(video_id), frame_id)
            if key in seen:
                _invalid(f'{where} is frame {frame_id} of video {video_id}, '
                         f'already given by "{seen[key]}"')
                continue
            info = self.parse_data_info(
                dict(raw_ann_info=ann, raw_img_info=img))
            if self.check_images and not exists(info['img_path']):
                _invalid(f'{where}: image file {info["img_path"]} does not '
                         'exist', missing_file=True)
                continue
            seen[key] = file_name
            category = categories.get(_video_key(video_id),
                                      img.get('category', None))
            info.update(
                video_id=str(video_id),
                frame_id=frame_id,
                category=None if category is None else str(category))
            frames.append(info)

        if invalid:
            print_log(
                f'{self.__class__.__name__}: skipped {len(invalid)} invalid '
                f'entries of {ann_file} (skip_invalid=True); first: '
                f'{invalid[0]}',
                logger='current',
                level=logging.WARNING)
        if num_broken:
            print_log(
                f'{self.__class__.__name__}: left out {num_broken} frames of '
                f'{ann_file} on the broken-frame list '
                f'{self.broken_frames_file} (never labelled nor evaluated)',
                logger='current',
                level=logging.INFO)
        return frames

    @staticmethod
    def _crop_box(frame: dict) -> Dict[str, np.ndarray]:
        """The crop box of ``frame`` (copies)."""
        return {
            key: frame[key].copy()
            for key in ('bbox', 'bbox_center', 'bbox_scale', 'bbox_score')
        }

    def _make_clip(self, frames: List[dict], num_padded: int = 0) -> dict:
        """Turn a list of frame infos into one clip item."""
        frames = [deepcopy(f) for f in frames]
        frames += [deepcopy(frames[-1]) for _ in range(num_padded)]
        clip_len = len(frames)
        first = frames[0]
        first_box = self._crop_box(first)
        num_real = clip_len - num_padded
        for index, frame in enumerate(frames):
            if self.test_mode:
                labelled = self.is_labelled_frame(frame['frame_id'])
                gt_hidden = False
                if self.test_bbox == 'first':
                    # crop with the first box, keep the own box for metrics
                    frame['bbox_center'] = first_box['bbox_center'].copy()
                    frame['bbox_scale'] = first_box['bbox_scale'].copy()
            else:
                labelled = index == 0
                gt_hidden = not labelled
                frame.update(deepcopy(first_box))
            frame.update(
                clip_len=clip_len,
                frame_index=index,
                labelled=bool(labelled and index < num_real),
                evaluate=index < num_real,
                gt_hidden=gt_hidden)
        return dict(
            frames=frames,
            clip_len=clip_len,
            video_id=first['video_id'],
            category=first['category'])

    def load_data_list(self) -> List[dict]:
        """Build the clips (see the module docstring).

        Returns:
            list[dict]: One dict per clip, with its ``frames``.
        """
        frames = self._load_frames()
        by_video: Dict[str, List[dict]] = defaultdict(list)
        for frame in frames:
            by_video[frame['video_id']].append(frame)

        clips: List[dict] = []
        num_too_short = 0
        for video_id in sorted(by_video, key=_video_sort_key):
            video = sorted(by_video[video_id], key=lambda f: f['frame_id'])
            for segment in self._segments(video):
                if self.test_mode:
                    for start in range(0, len(segment), self.clip_len):
                        part = segment[start:start + self.clip_len]
                        pad = (self.clip_len - len(part)
                               if self.pad_last_clip else 0)
                        clips.append(self._make_clip(part, pad))
                else:
                    for start, frame in enumerate(segment):
                        if not self.is_labelled_frame(frame['frame_id']):
                            continue
                        part = segment[start:start + self.clip_len]
                        if len(part) < self.clip_len:
                            num_too_short += 1
                            continue
                        clips.append(self._make_clip(part))
        if num_too_short:
            print_log(
                f'{self.__class__.__name__}: {num_too_short} labelled frames '
                f'of {self.ann_file} start no training clip: fewer than '
                f'{self.clip_len} consecutive frames follow them (frame gap '
                f'> {self.max_frame_gap}, broken frames or video end)',
                logger='current',
                level=logging.INFO)
        if not clips:
            raise ValueError(
                f'{self.ann_file} gives no clip: {len(frames)} valid frames, '
                f'clip_len={self.clip_len}, label_stride={self.label_stride}'
                f', max_frame_gap={self.max_frame_gap}, test_mode='
                f'{self.test_mode}')
        return clips

    def _segments(self, video: List[dict]) -> Iterable[List[dict]]:
        """Split a frame-sorted video where the frame gap is too large."""
        segment: List[dict] = []
        for frame in video:
            if segment and (frame['frame_id'] - segment[-1]['frame_id'] >
                            self.max_frame_gap):
                yield segment
                segment = []
            segment.append(frame)
        if segment:
            yield segment

    def filter_data(self) -> List[dict]:
        """No filtering: invalid frames were handled at load time."""
        return self.data_list

    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th clip, with the dataset metainfo in every frame.

        Args:
            idx (int): Clip index.

        Returns:
            dict: ``frames`` (list of K frame dicts ready for mmpose
            top-down transforms), ``clip_len``, ``video_id``, ``category``,
            ``sample_idx`` and the dataset metainfo keys.
        """
        clip = super().get_data_info(idx)
        shared = {
            key: clip[key]
            for key in ('dataset_name', 'upper_body_ids', 'lower_body_ids',
                        'flip_pairs', 'dataset_keypoint_weights',
                        'flip_indices', 'skeleton_links')
        }
        for frame in clip['frames']:
            frame.update(shared)
            frame['sample_idx'] = clip['sample_idx']
        return clip


def _video_sort_key(video_id: str) -> Tuple[int, Any]:
    """Numeric video ids in numeric order, then the others."""
    return (0, int(video_id)) if video_id.isdigit() else (1, video_id)

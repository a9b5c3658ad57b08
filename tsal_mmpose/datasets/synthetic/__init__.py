"""Synthetic 300VW-like videos built from real annotated faces."""
from .contact_sheet import (draw_landmarks, frames_from_json, frames_from_raw,
                            make_contact_sheet)
from .face_warp import MeshWarper, similarity_transform, triangulate
from .generator import (DEFAULT_ROOT, STILL_SPLITS, GeneratorConfig,
                        SyntheticSources, VideoSpec, convert_benchmark,
                        default_faces_dir, generate_benchmark, make_renderer,
                        plan_stills, plan_videos, render_video, write_stills,
                        write_video)
from .motion import PROFILES, MotionProfile, make_track
from .sources import (IBUG68_FLIP_INDICES, TEST_IDENTITIES, TRAIN_IDENTITIES,
                      WFLW98_TO_68, load_source_faces, wflw98_to_68)

__all__ = [
    'draw_landmarks', 'frames_from_json', 'frames_from_raw',
    'make_contact_sheet', 'MeshWarper', 'similarity_transform', 'triangulate',
    'DEFAULT_ROOT', 'GeneratorConfig', 'SyntheticSources', 'VideoSpec',
    'convert_benchmark', 'default_faces_dir', 'generate_benchmark',
    'make_renderer', 'plan_videos', 'render_video', 'write_video',
    'STILL_SPLITS', 'plan_stills', 'write_stills',
    'PROFILES', 'MotionProfile', 'make_track', 'IBUG68_FLIP_INDICES',
    'TEST_IDENTITIES', 'TRAIN_IDENTITIES', 'WFLW98_TO_68',
    'load_source_faces', 'wflw98_to_68'
]

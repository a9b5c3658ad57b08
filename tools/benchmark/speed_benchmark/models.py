"""The two models compared, built from one TSAL config, and their batches.

TSAL is the config's ``model``; the plain model is an mmpose
``TopdownPoseEstimator`` with the same data preprocessor, backbone, neck
and head trunk, a ``HeatmapHead`` and an ``MSRAHeatmap`` codec of the same
sizes. Both see the same synthetic frames (moving textures on a
parametric 68-point face), as clips for TSAL and as frames for the plain
model.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIMIZERS, DefaultScope

__all__ = [
    'load_config', 'plain_dict', 'tsal_model_config', 'plain_model_config',
    'tsal_codec_config', 'plain_codec_config', 'Float32Outputs',
    'float32_outputs_head', 'build_model', 'build_models', 'load_weights',
    'build_teacher_hook', 'BenchOptimWrapper', 'build_optim_wrapper',
    'frame_batch', 'make_batches', 'float32'
]


def load_config(path: str) -> Config:
    """Read a TSAL config and register the plugin's components."""
    import tsal_mmpose  # noqa: F401  (registers the TSAL components)
    return Config.fromfile(path)


def plain_dict(cfg_dict: Any) -> Any:
    """A ConfigDict (nested) as plain dicts/lists."""
    if hasattr(cfg_dict, 'to_dict'):
        return cfg_dict.to_dict()
    return copy.deepcopy(cfg_dict)


def float32(outputs: Any) -> Any:
    """A tensor, or each tensor of a tuple, in float32."""
    if isinstance(outputs, (tuple, list)):
        return tuple(o.float() for o in outputs)
    return outputs.float()


class Float32Outputs:
    """Head mixin: the head's outputs leave autocast in float32.

    Benchmark only (``--amp bf16``): numpy has no bfloat16, and the heads'
    training losses hand their outputs to mmpose's ``to_numpy`` for the
    accuracy they log, as their decoders do for prediction. The fast
    inference path casts its outputs the same way.
    """

    def forward(self, feats: Any) -> Any:
        """The head's outputs (see its class), in float32."""
        return float32(super().forward(feats))


def float32_outputs_head(head_cfg: dict) -> dict:
    """``head_cfg`` with its class replaced by a :class:`Float32Outputs`
    subclass of it (built by class, not registered)."""
    from mmpose.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        base = MODELS.get(head_cfg['type'])
    if base is None:
        raise KeyError(f'head type {head_cfg["type"]!r} is not registered')
    cls = type(f'Float32Outputs{base.__name__}', (Float32Outputs, base),
               {'__module__': __name__})
    return dict(head_cfg, type=cls)


def tsal_model_config(cfg: Config, float32_outputs: bool = False) -> dict:
    """The config's ``model`` with flip test off.

    Args:
        cfg (Config): A TSAL config.
        float32_outputs (bool): Heads with float32 outputs (autocast
            runs, see :class:`Float32Outputs`).
    """
    model = plain_dict(cfg.model)
    model['test_cfg'] = dict(model.get('test_cfg') or {}, flip_test=False)
    if float32_outputs:
        model['head'] = float32_outputs_head(model['head'])
    return model


def plain_model_config(cfg: Config, float32_outputs: bool = False) -> dict:
    """A stock mmpose top-down model matching the TSAL network of ``cfg``.

    Same data preprocessor settings, backbone, neck and head trunk (deconv
    and conv layers) as one TSAL network, with mmpose's ``HeatmapHead``,
    ``KeypointMSELoss(use_target_weight=True)`` and an ``MSRAHeatmap`` codec
    with the TSAL codec's input size, heatmap size and sigma.

    Args:
        cfg (Config): A TSAL config.
        float32_outputs (bool): A head with float32 outputs (autocast
            runs, see :class:`Float32Outputs`).

    Returns:
        dict: The ``TopdownPoseEstimator`` config (flip test off).
    """
    model = plain_dict(cfg.model)
    head = model['head']
    prep = dict(model.get('data_preprocessor') or {})
    prep['type'] = 'PoseDataPreprocessor'
    plain_head = dict(
        type='HeatmapHead',
        in_channels=head['in_channels'],
        out_channels=head.get('out_channels', 68),
        deconv_out_channels=head.get('deconv_out_channels', (256, 256, 256)),
        deconv_kernel_sizes=head.get('deconv_kernel_sizes', (4, 4, 4)),
        conv_out_channels=head.get('conv_out_channels'),
        conv_kernel_sizes=head.get('conv_kernel_sizes'),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=plain_codec_config(cfg))
    if float32_outputs:
        plain_head = float32_outputs_head(plain_head)
    return dict(
        type='TopdownPoseEstimator',
        data_preprocessor=prep,
        backbone=copy.deepcopy(model['backbone']),
        neck=copy.deepcopy(model.get('neck')),
        head=plain_head,
        test_cfg=dict(flip_test=False))


def tsal_codec_config(cfg: Config) -> dict:
    """The TSAL network's codec config (the head's decoder)."""
    return plain_dict(cfg.model.head.decoder)


def plain_codec_config(cfg: Config) -> dict:
    """``MSRAHeatmap`` with the TSAL codec's sizes and sigma."""
    codec = tsal_codec_config(cfg)
    return dict(
        type='MSRAHeatmap',
        input_size=tuple(codec['input_size']),
        heatmap_size=tuple(codec['heatmap_size']),
        sigma=codec.get('sigma', 2.0))


def build_model(model_cfg: dict, device: torch.device,
                seed: int) -> torch.nn.Module:
    """Build and initialise one model under ``seed``."""
    from mmpose.registry import MODELS
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model.to(device)


def build_models(cfg: Config, device: torch.device, seed: int = 0,
                 float32_outputs: bool = False) -> Dict[str, torch.nn.Module]:
    """Build ``{'tsal': TSALEstimator, 'plain': TopdownPoseEstimator}``."""
    return dict(
        tsal=build_model(tsal_model_config(cfg, float32_outputs), device,
                         seed),
        plain=build_model(plain_model_config(cfg, float32_outputs), device,
                          seed))


def load_weights(models: Dict[str, torch.nn.Module], checkpoint: str,
                 device: torch.device) -> None:
    """Load a TSAL checkpoint; the plain model takes the teacher's backbone
    and neck (its HeatmapHead differs from the TSALHead)."""
    from mmengine.runner import load_checkpoint
    load_checkpoint(models['tsal'], checkpoint, map_location=device)
    teacher, plain = models['tsal'].teacher, models['plain']
    plain.backbone.load_state_dict(teacher.backbone.state_dict())
    if getattr(plain, 'neck', None) is not None:
        plain.neck.load_state_dict(teacher.neck.state_dict())


def build_teacher_hook(cfg: Config) -> Optional[Any]:
    """The config's ``QueueTeacherHook`` (None when it has none)."""
    from mmpose.registry import HOOKS
    for hook_cfg in cfg.get('custom_hooks', None) or []:
        if hook_cfg.get('type') == 'QueueTeacherHook':
            with DefaultScope.overwrite_default_scope('mmpose'):
                return HOOKS.build(plain_dict(hook_cfg))
    return None


class BenchOptimWrapper(OptimWrapper):
    """``OptimWrapper`` with an optional autocast context and profiler labels.

    mmengine's ``AmpOptimWrapper`` refuses CPUs; bfloat16 needs no loss
    scaling, so autocast around the forward pass is all it takes.

    Args:
        optimizer (torch.optim.Optimizer): The optimizer.
        autocast_dtype (torch.dtype, optional): Autocast dtype of the
            forward pass (``None``: full precision).
        device_type (str): ``'cpu'`` or ``'cuda'``.
    """

    def __init__(self,
                 optimizer: torch.optim.Optimizer,
                 autocast_dtype: Optional[torch.dtype] = None,
                 device_type: str = 'cpu') -> None:
        super().__init__(optimizer)
        self.autocast_dtype = autocast_dtype
        self.device_type = device_type

    @contextlib.contextmanager
    def optim_context(self, model: torch.nn.Module):
        """The parent's context plus autocast (forward pass only)."""
        with super().optim_context(model):
            if self.autocast_dtype is None:
                yield
            else:
                with torch.autocast(device_type=self.device_type,
                                    dtype=self.autocast_dtype):
                    yield

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        with torch.profiler.record_function('bench/backward'):
            super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        with torch.profiler.record_function('bench/optimizer_step'):
            super().step(**kwargs)


def build_optim_wrapper(cfg: Config, model: torch.nn.Module,
                        device: torch.device,
                        amp_dtype: Optional[torch.dtype]) -> OptimWrapper:
    """The config's optimizer (Adam for TSAL) in a :class:`BenchOptimWrapper`.
    """
    opt_cfg = plain_dict(
        cfg.optim_wrapper.get('optimizer', dict(type='Adam', lr=1e-3)))
    optimizer = OPTIMIZERS.build(dict(opt_cfg, params=model.parameters()))
    return BenchOptimWrapper(optimizer, amp_dtype, device.type)


def frame_batch(clips: List[List[dict]], codec: dict) -> dict:
    """A plain mmpose batch of the same frames, every frame labelled.

    Args:
        clips (list[list[dict]]): From ``tsal_mmpose.testing.
            moving_texture_clips``.
        codec (dict): The plain model's codec config (``MSRAHeatmap``).

    Returns:
        dict: ``inputs`` (B*K tensors ``[3, h, w]``) and ``data_samples``
        (B*K ``PoseDataSample``), as mmpose's ``pseudo_collate`` gives.
    """
    from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
    with DefaultScope.overwrite_default_scope('mmpose'):
        encode = GenerateTarget(encoder=copy.deepcopy(codec))
    pack = PackPoseInputs()
    clip_keys = ('gt_hidden', 'labelled', 'clip_len', 'frame_index')
    inputs, samples = [], []
    for frames in clips:
        for frame in frames:
            frame = {k: v for k, v in frame.items() if k not in clip_keys}
            packed = pack(encode(frame))
            inputs.append(packed['inputs'])
            samples.append(packed['data_samples'])
    return dict(inputs=inputs, data_samples=samples)


def make_batches(cfg: Config, num_clips: int, clip_len: int,
                 seed: int) -> Dict[str, dict]:
    """``{'tsal': clip batch, 'plain': frame batch}`` of the same frames."""
    from tsal_mmpose.testing import moving_texture_clips, pack_clips
    codec = tsal_codec_config(cfg)
    clips = moving_texture_clips(num_clips, clip_len, codec['input_size'],
                                 seed)
    return dict(
        tsal=pack_clips(clips, codec),
        plain=frame_batch(clips, plain_codec_config(cfg)))

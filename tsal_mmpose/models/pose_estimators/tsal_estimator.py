"""The teacher-student asynchronous learning estimator (TSAL, Sec. 3)."""
import copy
import logging
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from mmdet.models.utils import rename_loss_dict, reweight_loss_dict
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmpose.models.pose_estimators.base import BasePoseEstimator
from mmpose.registry import MODELS
from mmpose.utils.typing import (ConfigType, OptConfigType, OptMultiConfig,
                                 SampleList)
from torch import Tensor
from torch.profiler import record_function

from ..losses.pseudo_heatmap_loss import student_pseudo_targets
from ..losses.unsup_weight import unsup_weight
from ..utils.flow_ops import track_points
from ..utils.keypoint_decoding import decode_clor_torch, decode_heatmap_torch
from .tsal_network import TSALNetwork

__all__ = [
    'TSALEstimator', 'ClipOutputs', 'ClipLayout', 'NonFiniteLossError'
]

_ROLES = ('teacher', 'student')
_NONFINITE_MODES = ('raise', 'skip')


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite (raised before any optimizer step).

    Args:
        iteration (int): The training iteration, 1-based as in the log.
        terms (list[str]): ``'network <role> term <name> = <value>'`` of
            each non-finite term.
    """

    def __init__(self, iteration: int, terms: List[str]) -> None:
        self.iteration = iteration
        self.terms = terms
        super().__init__(
            f'non-finite loss at training iteration {iteration} (as counted '
            f'in the log): {"; ".join(terms)}. Training stops before any '
            'optimizer step or teacher update (Eq. 8) with it; with '
            "model.nonfinite_loss='skip' single-process training skips "
            'such batches instead.')


class ClipOutputs(NamedTuple):
    """One network's outputs on a batch of ``M`` frames holding ``B`` clips
    of ``K`` frames (clip-major), and possibly single labelled images.

    Attributes:
        head (tuple): The head's ``(H [M, N, h, w], C [M, 1, h, w],
            O [M, 2N, h, w])`` of every frame of the batch (the supervised
            terms l_M and l_C use them).
        images (Tensor): The clips' frames ``[B, K, 3, H, W]``.
        flows (Tensor, optional): V ``[B, K-1, 2, h, w]``, heatmap pixels;
            ``None`` for single frames or a network without motion field.
        backward_flows (Tensor, optional): ``[B, K-1, 2, h, w]`` when l_E
            needs them (forward-backward occlusion).
        p_m (Tensor, optional): ``[B, K, N, 2]`` heatmap maxima (detached).
        p_c (Tensor, optional): ``[B, K, N, 2]`` centre + offsets.
        offsets_at_center (Tensor, optional): ``[B, K, N, 2]`` the offsets
            read at the centre (with gradient, the input of Eq. 2).
        clip_head (tuple, optional): ``head`` of the ``B*K`` clip frames
            alone, for a batch that also holds single images; ``None``
            when every frame of the batch belongs to a clip (then ``head``
            is theirs).
    """
    head: Tuple[Tensor, Tensor, Tensor]
    images: Tensor
    flows: Optional[Tensor] = None
    backward_flows: Optional[Tensor] = None
    p_m: Optional[Tensor] = None
    p_c: Optional[Tensor] = None
    offsets_at_center: Optional[Tensor] = None
    clip_head: Optional[Tuple[Tensor, Tensor, Tensor]] = None

    @property
    def clip_len(self) -> int:
        """int: K."""
        return self.images.shape[1]

    @property
    def heatmaps(self) -> Tensor:
        """Tensor: H ``[B*K, N, h, w]`` of the clip frames."""
        return (self.head if self.clip_head is None else self.clip_head)[0]


class ClipLayout(NamedTuple):
    """Where the clips of a batch are (:meth:`TSALEstimator.clip_layout`).

    Attributes:
        clip_len (int): K of the batch's clips (1 when it holds single
            frames only).
        clip_frames (list[int], optional): Indices of the ``B*K`` clip
            frames among the batch's frames, for a batch that mixes single
            labelled images (clips of one frame) with clips of K > 1
            frames; ``None`` when all frames form clips of one length.
    """
    clip_len: int
    clip_frames: Optional[List[int]] = None


@MODELS.register_module()
class TSALEstimator(BasePoseEstimator):
    """Teacher-student asynchronous learning on sparsely labelled clips.

    A teacher (R, "calm") and a student (S, "radical") are built from ONE
    network description, so they have identical structure; they are the
    submodules ``teacher`` and ``student`` (each a :class:`TSALNetwork`).
    The description takes the arguments of mmpose's
    ``TopdownPoseEstimator`` (``backbone``, ``neck``, ``head``,
    ``train_cfg``, ``test_cfg``) plus ``motion_field``, so that mmpose's
    tools that edit a top-down model config (``mmpose.apis.init_model``
    clears ``model.backbone.init_cfg`` and ``model.train_cfg``) work on a
    TSAL config unchanged. A batch holds ``B`` clips of ``K`` frames,
    flattened clip-major to ``B*K`` frames by :class:`ClipDataPreprocessor`;
    frame 0 of each clip is labelled. A batch may also hold labelled images
    (clips of one frame) beside the clips, for mixed image and video
    training: they get the supervised terms only (:meth:`clip_layout`).

    :meth:`loss` is Eq. 6 and 7, ``L = l_s + w(t) L_d`` per network:
    :meth:`same_pipeline_loss` is Eq. 1, ``l_s = L_I + w(t) L_D + l_M + l_C
    + l_E`` (the head's supervised terms on labelled frames, the
    motion-field loss, SIC of Eq. 2 and MFDS of Eq. 3), and
    :meth:`pseudo_label_loss` is L_d, the pseudo-heatmap loss of the
    unlabelled frames against the teacher's targets (Eq. 4,
    :meth:`teacher_targets`) or the student's (Eq. 5 as corrected in the
    reading notes, :meth:`student_targets`). Pseudo-labels and detections
    used as targets are detached. Every term is named ``loss_<term>`` by the
    module that computes it, prefixed with the network's role
    (``teacher/loss_sic``); a term whose loss config is ``None`` is left
    out.

    Both networks take their own gradient step (Algorithm 1, lines 2-3): the
    returned dict sums to ``L^R + L^S``, and since the two share no
    parameters and all targets are detached, each network's gradient is that
    of its own loss. The queue-averaged teacher update (Eq. 8) is
    :class:`QueueTeacherHook`'s job. A NaN or infinite term stops training
    before either optimizer step (or skips the batch, ``nonfinite_loss``).

    The single-network rows of the paper's ablation build only the
    ``teacher`` (``two_networks=False``) and usually set ``pseudo_loss`` to
    ``None``.

    Args:
        backbone (dict): Backbone config of each network.
        head (dict): Head config of each network (a ``TSALHead``).
        motion_field (dict, optional): Motion-field module config of each
            network (a ``MotionFieldNeck``). Without one only the supervised
            terms are trained.
        neck (dict, optional): Neck config between backbone and head.
        train_cfg (dict, optional): Training config of each network.
        test_cfg (dict, optional): Testing config of each network (flip
            test etc.).
        two_networks (bool): Build the student too. Defaults to True.
        predict_on (str): ``'teacher'`` (the paper's "Ours") or
            ``'student'``. Defaults to ``'teacher'``.
        mu (float): Weight of the tracking source in the student's targets
            (Eq. 5). Defaults to 0.6 (the paper's best, Fig. 6).
        student_targets_from (str): Whose tracks phi(V, p_l) and p_C build
            the student's Eq. 5 targets: ``'student'`` (its own, as Eq. 5
            writes it) or ``'teacher'`` (the teacher's, detached: a teacher
            that instructs its student, as the paper's introduction words
            it; docs/design/estimator.md). Defaults to ``'student'``.
        same_init (bool): Start the student as a copy of the teacher.
            Defaults to True.
        unsup_weight (dict): The schedule of w(t):
            ``dict(ramp_up, hold, total, unit='epoch' | 'iter')``; see
            :func:`unsup_weight`. Defaults to the paper's 60/110/140 epochs.
        sic_loss (dict, optional): L_I (Eq. 2); ``None`` leaves it out.
        mfds_loss (dict, optional): L_D (Eq. 3); ``None`` leaves it out.
        pseudo_loss (dict, optional): L_d (Eq. 4/5); ``None`` leaves it out.
            Without a ``sigma`` it takes the head codec's, so that
            pseudo-labels are rendered like the labelled targets.
        nonfinite_loss (str): What a NaN or infinite loss term does:
            ``'raise'`` stops training with :class:`NonFiniteLossError`
            naming the iteration, the network and the term; ``'skip'``
            drops the batch (no optimizer step, normalisation statistics
            restored; the Eq. 8 hook still runs, on the unchanged student)
            and counts the skips in the log as ``nonfinite_skips``, as
            AMP's loss scaler does for overflows. Skipping needs
            single-process training (mmengine's distributed wrapper runs
            its own training step, which stops). Defaults to ``'raise'``.
        data_preprocessor (dict, optional): Usually a
            :class:`ClipDataPreprocessor`.
        init_cfg (dict, optional): Initialisation config.
        metainfo (dict, optional): Dataset meta information.
    """

    def __init__(self,
                 backbone: ConfigType,
                 head: ConfigType,
                 motion_field: OptConfigType = None,
                 neck: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 two_networks: bool = True,
                 predict_on: str = 'teacher',
                 mu: float = 0.6,
                 student_targets_from: str = 'student',
                 same_init: bool = True,
                 unsup_weight: ConfigType = dict(
                     ramp_up=60, hold=110, total=140, unit='epoch'),
                 sic_loss: OptConfigType = dict(
                     type='SICLoss', loss_weight=1.0),
                 mfds_loss: OptConfigType = dict(
                     type='MFDSLoss', loss_weight=1.0),
                 pseudo_loss: OptConfigType = dict(
                     type='PseudoHeatmapLoss', loss_weight=1.0),
                 nonfinite_loss: str = 'raise',
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 metainfo: Optional[dict] = None) -> None:
        # BasePoseEstimator.__init__ builds a single backbone/head; TSAL has
        # two complete networks instead, so only BaseModel is initialised.
        BaseModel.__init__(
            self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if predict_on not in _ROLES:
            raise ValueError(f'predict_on must be one of {_ROLES}, got '
                             f'{predict_on!r}')
        if predict_on == 'student' and not two_networks:
            raise ValueError("predict_on='student' needs two_networks=True")
        if not 0.0 <= mu <= 1.0:
            raise ValueError(f'mu must lie in [0, 1], got {mu}')
        if student_targets_from not in _ROLES:
            raise ValueError(f'student_targets_from must be one of {_ROLES}, '
                             f'got {student_targets_from!r}')
        if unsup_weight.get('unit', 'epoch') not in ('epoch', 'iter'):
            raise ValueError("unsup_weight['unit'] must be 'epoch' or 'iter'")
        if nonfinite_loss not in _NONFINITE_MODES:
            raise ValueError(f'nonfinite_loss must be one of '
                             f'{_NONFINITE_MODES}, got {nonfinite_loss!r}')
        self.metainfo = self._load_metainfo(metainfo)
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or {})
        network = dict(
            type=TSALNetwork,
            backbone=backbone,
            neck=neck,
            head=head,
            motion_field=motion_field,
            train_cfg=train_cfg,
            test_cfg=test_cfg)
        self.teacher: TSALNetwork = MODELS.build(copy.deepcopy(network))
        if two_networks:
            # Its construction-time draws do not shift the random state
            # that everything after it sees (see init_weights).
            with torch.random.fork_rng(devices=[]):
                self.student: TSALNetwork = MODELS.build(
                    copy.deepcopy(network))
        self.two_networks = two_networks
        self.predict_on = predict_on
        self.mu = mu
        self.student_targets_from = student_targets_from
        self.same_init = same_init
        self.unsup_weight_cfg = dict(unsup_weight)
        self.nonfinite_loss = nonfinite_loss
        self.sic_loss = self._build_optional(sic_loss)
        self.mfds_loss = self._build_optional(mfds_loss)
        self.pseudo_loss = self._build_optional(
            self._with_codec_sigma(pseudo_loss, head))
        self._register_load_state_dict_pre_hook(self._load_state_dict_pre_hook)

    @staticmethod
    def _build_optional(cfg: OptConfigType) -> Optional[torch.nn.Module]:
        return MODELS.build(cfg) if cfg is not None else None

    @staticmethod
    def _with_codec_sigma(pseudo_loss: OptConfigType,
                          head: ConfigType) -> OptConfigType:
        """``pseudo_loss`` with the head codec's sigma unless it sets one."""
        if pseudo_loss is None or 'sigma' in pseudo_loss:
            return pseudo_loss
        sigma = (head.get('decoder') or {}).get('sigma')
        if sigma is None:
            raise ValueError(
                'pseudo_loss has no `sigma` and the head has no decoder with '
                'one; set model.pseudo_loss.sigma (or model.pseudo_loss=None '
                'to train without pseudo-labels)')
        return dict(pseudo_loss, sigma=sigma)

    # ------------------------------------------------------------------
    # structure
    # ------------------------------------------------------------------
    @property
    def networks(self) -> Dict[str, TSALNetwork]:
        """dict: the networks by role (``teacher``, and ``student``)."""
        nets = {'teacher': self.teacher}
        if self.two_networks:
            nets['student'] = self.student
        return nets

    @property
    def predictor(self) -> TSALNetwork:
        """TSALNetwork: the network that :meth:`predict` runs."""
        return self.networks[self.predict_on]

    @property
    def with_head(self) -> bool:
        return True

    def init_weights(self) -> None:
        """Initialise both networks; with ``same_init`` the student starts
        as a copy of the teacher.

        The teacher draws the same initial weights as the single network of
        ``two_networks=False`` under the same seed (the student is built
        and initialised after it, and neither step moves the global random
        state for what follows), so that rows of an ablation trained with
        one seed start from one initialisation.
        """
        with torch.random.fork_rng(devices=[]):
            super().init_weights()
        if self.two_networks and self.same_init:
            self.student.load_state_dict(self.teacher.state_dict())

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor]:
        """Features of the predicting network, ``inputs`` [M, 3, H, W]."""
        return self.predictor.extract_feat(inputs)

    def _forward(self, inputs: Tensor, data_samples: SampleList = None):
        """Raw head outputs (H, C, O) of the predicting network."""
        return self.predictor._forward(inputs)

    # ------------------------------------------------------------------
    # training: Eq. 6 and 7
    # ------------------------------------------------------------------
    def current_unsup_weight(self) -> float:
        """w(t) at the current training iteration (Eq. 1, 6, 7).

        The iteration comes from mmengine's message hub (set by its
        ``RuntimeInfoHook``); with ``unit='epoch'`` it is turned into a
        fractional epoch ``iter * max_epochs / max_iters``.
        """
        hub = MessageHub.get_current_instance()
        it = hub.get_info('iter', 0) or 0
        cfg = self.unsup_weight_cfg
        t = float(it)
        if cfg.get('unit', 'epoch') == 'epoch':
            max_iters = hub.get_info('max_iters')
            max_epochs = hub.get_info('max_epochs')
            if max_iters and max_epochs:
                t = it * max_epochs / max_iters
        return unsup_weight(
            t,
            ramp_up_end=cfg['ramp_up'],
            hold_end=cfg['hold'],
            total=cfg['total'])

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Eq. 6 and 7: ``L = l_s + w(t) L_d`` of the teacher and the student.

        A batch may also hold single labelled images beside the clips
        (mixed image and video training, :class:`CombinedClipDataset`): an
        image is a clip of one labelled frame (``clip_len`` 1). Every frame
        goes through the network once; the images get the supervised terms
        l_M and l_C with the clips' labelled frames, and the clips alone
        every other term (:meth:`clip_layout`).

        Args:
            inputs (Tensor): Frames [M, 3, H, W], clip-major.
            data_samples (list[PoseDataSample]): M frame samples; metainfo
                ``clip_len`` (K, 1 for an image) and ``labelled``.

        Returns:
            dict: ``teacher/loss_*`` and ``student/loss_*`` terms (summed by
            mmengine into ``L^R + L^S``), each network's ``acc_pose`` and
            ``unsup_weight`` (logged).
        """
        layout = self.clip_layout(data_samples)
        clip_samples = data_samples if layout.clip_frames is None else [
            data_samples[i] for i in layout.clip_frames
        ]
        w = self.current_unsup_weight()
        losses = {'unsup_weight': inputs.new_tensor(w)}
        outputs: Dict[str, Tuple[TSALNetwork, ClipOutputs]] = {}
        for role, net in self.networks.items():  # the teacher first
            clips = self.forward_clips(role, net, inputs, layout.clip_len,
                                       clip_frames=layout.clip_frames)
            outputs[role] = (net, clips)
            net_losses = self.same_pipeline_loss(role, net, clips,
                                                 data_samples, w,
                                                 clip_samples=clip_samples)
            guide = outputs['teacher'] if (
                role == 'student'
                and self.student_targets_from == 'teacher') else None
            net_losses.update(
                reweight_loss_dict(
                    self.pseudo_label_loss(role, net, clips, clip_samples,
                                           guide=guide), w))
            losses.update(rename_loss_dict(f'{role}/', net_losses))
        return losses

    @staticmethod
    def clip_layout(data_samples: SampleList) -> ClipLayout:
        """The clips of a batch, from each frame's ``clip_len`` metainfo.

        The frames are read in order as consecutive clips: a clip starts at
        a frame whose ``clip_len`` (default 1) says how many frames it has.
        A batch of clips of one length K is the single-source layout. A
        batch may also mix clips of K > 1 frames with single labelled
        images (``clip_len`` 1); clips of two lengths above 1 are refused.

        Args:
            data_samples (list[PoseDataSample]): ``M`` frame samples.

        Returns:
            ClipLayout: K and, for a mixed batch, the clip frames' indices.

        Raises:
            ValueError: if the frames do not form whole clips, or the batch
                holds clips of two lengths above 1.
        """
        lengths: List[int] = []
        starts: List[int] = []
        index, total = 0, len(data_samples)
        while index < total:
            length = int(data_samples[index].metainfo.get('clip_len', 1))
            if length < 1 or index + length > total:
                raise ValueError(
                    f'{total} frames do not form whole clips: frame {index} '
                    f'starts a clip of {length} frames')
            lengths.append(length)
            starts.append(index)
            index += length
        kinds = set(lengths)
        if len(kinds) == 1:
            return ClipLayout(lengths[0])
        video = kinds - {1}
        if len(video) != 1:
            raise ValueError(
                'a batch may hold single images (clip_len 1) and clips of '
                f'one length, got clips of {sorted(kinds)} frames')
        clip_len = video.pop()
        frames = [
            start + k for start, length in zip(starts, lengths)
            if length == clip_len for k in range(length)
        ]
        return ClipLayout(clip_len, frames)

    def forward_clips(self,
                      role: str,
                      net: TSALNetwork,
                      inputs: Tensor,
                      clip_len: int,
                      clip_frames: Optional[List[int]] = None) -> ClipOutputs:
        """One network's head outputs, motion field and detections.

        Args:
            role (str): ``'teacher'`` or ``'student'`` (profiler labels).
            net (TSALNetwork): The network.
            inputs (Tensor): Frames ``[M, 3, H, W]``, clip-major.
            clip_len (int): K.
            clip_frames (list[int], optional): The ``B*K`` clip frames among
                ``inputs`` when it also holds single images
                (:class:`ClipLayout`); ``None``: all ``M = B*K`` frames.

        Returns:
            ClipOutputs: the head outputs of all M frames; the flows and
            detections (of the clips) are ``None`` for ``K = 1`` or a
            network without motion field.
        """
        with record_function(f'{role}.forward'):
            # one pass over images and clip frames alike: one set of
            # normalisation statistics, as for a batch of one source
            head = net.head.forward(net.extract_feat(inputs))
        clip_head = None
        if clip_frames is not None:
            index = torch.as_tensor(clip_frames, device=inputs.device)
            clip_head = tuple(x.index_select(0, index) for x in head)
            inputs = inputs.index_select(0, index)
        images = inputs.view(-1, clip_len, *inputs.shape[1:])
        if clip_len < 2 or not net.with_motion_field:
            return ClipOutputs(head, images, clip_head=clip_head)
        with record_function(f'{role}.motion_field'):
            flows, backward_flows = net.motion_field.flows_for_loss(images)
        with record_function(f'{role}.detections'):
            p_m, p_c, offsets_at_center = self.clip_detections(
                head if clip_head is None else clip_head, clip_len)
        return ClipOutputs(head, images, flows, backward_flows, p_m, p_c,
                           offsets_at_center, clip_head)

    def same_pipeline_loss(
            self,
            role: str,
            net: TSALNetwork,
            clips: ClipOutputs,
            data_samples: SampleList,
            w: float,
            clip_samples: Optional[SampleList] = None) -> Dict[str, Tensor]:
        """Eq. 1: ``l_s = L_I + w(t) L_D + l_M + l_C + l_E`` of one network.

        l_M and l_C are taken on every labelled frame of the batch (the
        clips' labelled frames and any single images), the other terms on
        the clips. L_D leaves out the landmarks that are invisible on a
        clip's labelled frame (:meth:`labelled_visibility`): their heatmap
        detections are no position to pull the motion field to.

        Args:
            role (str): ``'teacher'`` or ``'student'`` (profiler labels).
            net (TSALNetwork): The network of ``clips``.
            clips (ClipOutputs): Its outputs (:meth:`forward_clips`).
            data_samples (list[PoseDataSample]): The ``M`` frame samples.
            w (float): w(t).
            clip_samples (list[PoseDataSample], optional): The ``B*K``
                samples of the clip frames; defaults to ``data_samples``.

        Returns:
            dict: ``loss_heatmap``, ``loss_center``, ``loss_offset`` (l_M,
            l_C, on the labelled frames) and ``acc_pose``; with flows also
            ``loss_photometric`` and ``loss_smooth`` (l_E), ``loss_sic``
            (L_I) and ``loss_mfds`` (w(t) L_D), each unless its loss config
            is ``None``.
        """
        if clip_samples is None:
            clip_samples = data_samples
        with record_function(f'{role}.supervised_loss'):
            losses = net.head.loss_by_outputs(
                clips.head, data_samples, train_cfg=net.train_cfg)
        if clips.flows is None:
            return losses
        with record_function(f'{role}.motion_field_loss'):
            losses.update(
                net.motion_field.loss(clips.images, clips.flows,
                                      clips.backward_flows))
        if self.sic_loss is not None:
            with record_function(f'{role}.sic_loss'):
                # box_w of the CLOR landmarks is a scale, not a target: the
                # loss detaches it.
                losses['loss_sic'] = self.sic_loss(
                    clips.offsets_at_center, points=clips.p_c)
        if self.mfds_loss is not None:
            with record_function(f'{role}.mfds_loss'):
                # Eq. 3: the frame-0 detection tracked to frame K-1 through V
                tracked = track_points(clips.flows, clips.p_m[:, 0])[:, -1]
                visible = self.labelled_visibility(
                    clip_samples, clips.clip_len, clips.p_m.shape[2],
                    tracked)
                mfds = {
                    'loss_mfds':
                    self.mfds_loss(tracked, clips.p_m[:, -1], visible)
                }
            losses.update(reweight_loss_dict(mfds, w))  # w(t) L_D
        return losses

    def pseudo_label_loss(
        self,
        role: str,
        net: TSALNetwork,
        clips: ClipOutputs,
        data_samples: SampleList,
        guide: Optional[Tuple[TSALNetwork, ClipOutputs]] = None
    ) -> Dict[str, Tensor]:
        """L_d of Eq. 4 (teacher) or Eq. 5 (student), before w(t).

        The pseudo-heatmap loss of frames 1..K-1 of the clips whose frame 0
        is labelled, against the role's targets (:meth:`pseudo_targets`)
        built from the network's own tracks of the labels (on its detached
        flows) and its own ``p_C``. A landmark invisible on the labelled
        frame has no label to track: it gets no target on any frame of its
        clip (weight 0, :meth:`labelled_visibility`).

        Args:
            role (str): ``'teacher'`` or ``'student'``.
            net (TSALNetwork): The network of ``clips``.
            clips (ClipOutputs): Its outputs (:meth:`forward_clips`).
            data_samples (list[PoseDataSample]): The ``B*K`` samples of the
                clip frames.
            guide (tuple, optional): Another network and its outputs whose
                tracks and ``p_C`` build the targets instead (the teacher,
                ``student_targets_from='teacher'``); ``net``'s heatmaps are
                still the ones trained.

        Returns:
            dict: ``loss_pseudo`` (a zero attached to the graph when no clip
            has a labelled frame 0); empty without flows or with
            ``pseudo_loss=None``.
        """
        if self.pseudo_loss is None or clips.flows is None:
            return {}
        heatmaps, clip_len = clips.heatmaps, clips.clip_len
        source_net, source = guide if guide is not None else (net, clips)
        with record_function(f'{role}.tracks'):
            tracks, valid = self.clip_tracks(source_net,
                                             source.flows.detach(),
                                             data_samples, clip_len, heatmaps)
        with record_function(f'{role}.pseudo_loss'):
            if not valid.any():
                return {'loss_pseudo': heatmaps.sum() * 0.0}
            targets = self.pseudo_targets(role, tracks[:, 1:],
                                          source.p_c[:, 1:])
            visible = self.labelled_visibility(data_samples, clip_len,
                                               heatmaps.shape[1], heatmaps)
            weights = visible[valid, None].expand(-1, clip_len - 1, -1)
            pred = heatmaps.view(-1, clip_len, *heatmaps.shape[1:])[:, 1:]
            return {
                'loss_pseudo':
                self.pseudo_loss(pred[valid], targets[valid], weights)
            }

    def teacher_targets(self, tracks: Tensor, p_c: Tensor) -> Tensor:
        """Eq. 4: the teacher's pseudo-labels are its tracks phi(V^R, p_l).

        Args:
            tracks (Tensor): ``[B, K', N, 2]`` heatmap pixels.
            p_c (Tensor): ``[B, K', N, 2]`` (not used by the teacher).

        Returns:
            Tensor: ``[B, K', N, 2]``, detached.
        """
        return tracks.detach()

    def student_targets(self, tracks: Tensor, p_c: Tensor) -> Tensor:
        """Eq. 5: ``mu * phi(V^S, p_l) + (1 - mu) * p_C^S``.

        Args:
            tracks (Tensor): ``[B, K', N, 2]`` heatmap pixels.
            p_c (Tensor): ``[B, K', N, 2]``, the same frames.

        Returns:
            Tensor: ``[B, K', N, 2]``, detached.
        """
        return student_pseudo_targets(tracks, p_c, self.mu)

    def pseudo_targets(self, role: str, tracks: Tensor,
                       p_c: Tensor) -> Tensor:
        """The pseudo-label landmarks of ``role`` on unlabelled frames.

        Args:
            role (str): ``'teacher'`` (:meth:`teacher_targets`, Eq. 4) or
                ``'student'`` (:meth:`student_targets`, Eq. 5).
            tracks (Tensor): ``[B, K', N, 2]``.
            p_c (Tensor): ``[B, K', N, 2]``, the same frames.

        Returns:
            Tensor: ``[B, K', N, 2]``, detached.
        """
        targets = {
            'teacher': self.teacher_targets,
            'student': self.student_targets
        }[role]
        return targets(tracks, p_c)

    @staticmethod
    def clip_detections(outputs: Tuple[Tensor, Tensor, Tensor],
                        clip_len: int) -> Tuple[Tensor, Tensor, Tensor]:
        """The two detection sources of every clip frame (Sec. 3.1).

        Args:
            outputs (tuple): The head's ``(H [B*K, N, h, w], C [B*K, 1, h,
                w], O [B*K, 2N, h, w])``, clip-major.
            clip_len (int): K.

        Returns:
            tuple: ``[B, K, N, 2]`` each, heatmap pixels: p_M (heatmap
            maxima, no gradient), p_C (face-centre peak + offsets, with the
            offsets' gradient) and the offsets read at the centre (with
            gradient, the input of L_I, Eq. 2).
        """
        heatmaps, center_logits, offset_map = outputs
        num_frames, num_kpts = heatmaps.shape[:2]
        shape = (num_frames // clip_len, clip_len, num_kpts, 2)
        p_m = decode_heatmap_torch(heatmaps.detach())
        p_c, offsets_at_center, _ = decode_clor_torch(center_logits,
                                                      offset_map)
        return p_m.view(shape), p_c.view(shape), offsets_at_center.view(shape)

    def clip_tracks(self, net: TSALNetwork, flows: Tensor,
                    data_samples: SampleList, clip_len: int,
                    like: Tensor) -> Tuple[Tensor, Tensor]:
        """The tracking source phi(V, p_l): labels carried through a clip.

        Args:
            net (TSALNetwork): The network whose head encoded the targets.
            flows (Tensor): Its motion field ``[B, K-1, 2, h, w]``, heatmap
                pixels.
            data_samples (list[PoseDataSample]): ``B*K`` frame samples.
            clip_len (int): K.
            like (Tensor): Heatmaps ``[B*K, N, h, w]`` (dtype, device and
                the map width).

        Returns:
            tuple: tracks ``[B, K, N, 2]`` in heatmap pixels (frame 0 holds
            p_l itself) and the bool mask ``[B]`` of the clips whose frame
            0 is labelled (the other clips' tracks are meaningless).
        """
        labels, valid = self.labelled_points(net, data_samples, clip_len,
                                             like.shape[-1], like)
        if not bool(valid.any()):
            return like.new_zeros(len(valid), clip_len, like.shape[1],
                                  2), valid
        return track_points(flows, labels), valid

    @staticmethod
    def labelled_points(net: TSALNetwork, data_samples: SampleList,
                        clip_len: int, heatmap_width: int,
                        like: Tensor) -> Tuple[Tensor, Tensor]:
        """The labelled landmarks p_l of each clip's frame 0.

        Read from the frame's encoded targets (integer face centre + CLOR
        offsets, exactly the transformed landmarks in heatmap pixels), so
        the crop and augmentation of the pipeline are already applied. An
        invisible landmark, whose offset the codec zeroes, reads as the face
        centre: :meth:`labelled_visibility` masks it out of every loss.

        Args:
            net (TSALNetwork): The network whose head encoded the targets.
            data_samples (list[PoseDataSample]): ``B*K`` frame samples,
                clip-major.
            clip_len (int): K.
            heatmap_width (int): Width of the heatmaps (pixel indices).
            like (Tensor): Any tensor of the wanted dtype and device.

        Returns:
            tuple: points [B, N, 2] in heatmap pixels, and a bool mask [B] of
            the clips whose frame 0 is labelled.
        """
        points: List[Tensor] = []
        valid: List[bool] = []
        num_kpts = None
        for first in data_samples[::clip_len]:
            if net.head.is_labelled(first):
                labels = first.gt_instance_labels
                index = int(labels.center_index.reshape(-1)[0])
                center = like.new_tensor(
                    [index % heatmap_width, index // heatmap_width])
                offsets = torch.as_tensor(labels.offsets).to(like)[0]
                points.append(center + offsets)
                num_kpts = offsets.shape[0]
                valid.append(True)
            else:
                points.append(None)
                valid.append(False)
        if num_kpts is None:
            return like.new_zeros(len(valid), 0, 2), torch.zeros(
                len(valid), dtype=torch.bool, device=like.device)
        points = [p if p is not None else like.new_zeros(num_kpts, 2)
                  for p in points]
        return torch.stack(points), torch.tensor(valid, device=like.device)

    @staticmethod
    def labelled_visibility(data_samples: SampleList, clip_len: int,
                            num_keypoints: int, like: Tensor) -> Tensor:
        """Which landmarks of each clip carry a label on its frame 0.

        A landmark invisible on the labelled frame (AFLW's occluded points,
        or one a ``KeypointConverter`` mapping leaves out) has no position:
        the codec zeroes its offsets and weights, so its p_l would be the
        face centre. Tracks of it (Eq. 4 and 5) and its heatmap detection
        in L_D (Eq. 3) are left out with weight 0. A landmark counts as
        visible where the frame's ``offset_weights`` is positive (where the
        codec kept its offset). A clip whose frame 0 is unlabelled gets
        weight 1 everywhere: it has no label to mask by (and no tracks).

        Args:
            data_samples (list[PoseDataSample]): ``B*K`` frame samples,
                clip-major.
            clip_len (int): K.
            num_keypoints (int): N.
            like (Tensor): Any tensor of the wanted dtype and device.

        Returns:
            Tensor: ``[B, N]`` weights, 1 for visible and 0 for invisible
            landmarks.
        """
        rows = []
        for first in data_samples[::clip_len]:
            labels = getattr(first, 'gt_instance_labels', None)
            if (first.metainfo.get('labelled', True) and labels is not None
                    and 'offset_weights' in labels):
                weights = torch.as_tensor(labels.offset_weights).reshape(-1)
                rows.append((weights > 0).to(like.device))
            else:
                rows.append(
                    torch.ones(
                        num_keypoints, dtype=torch.bool, device=like.device))
        return torch.stack(rows).to(like.dtype)

    # ------------------------------------------------------------------
    # training step: non-finite losses
    # ------------------------------------------------------------------
    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """mmengine's training step, with the non-finite loss policy.

        As ``BaseModel.train_step`` (preprocess, :meth:`loss`,
        :meth:`parse_losses`, ``optim_wrapper.update_params``); with
        ``nonfinite_loss='skip'`` a batch whose loss has a non-finite term
        takes no optimizer step and leaves the normalisation statistics
        that its forward pass updated as they were.

        Returns:
            dict: mmengine's log variables, plus ``nonfinite_skips`` (the
            batches skipped so far) once there is one; a skipped batch logs
            only that count.
        """
        skip = self.nonfinite_loss == 'skip'
        with optim_wrapper.optim_context(self):
            with record_function('tsal.data_preprocessor'):
                data = self.data_preprocessor(data, True)
            # the forward pass updates BatchNorm statistics; a skipped
            # batch must not leave them poisoned
            buffers = [b.detach().clone()
                       for b in self.buffers()] if skip else None
            losses = self._run_forward(data, mode='loss')
        try:
            parsed_losses, log_vars = self.parse_losses(losses)
        except NonFiniteLossError as error:
            if not skip:
                raise
            return self._skip_batch(error, buffers)
        with record_function('tsal.update_params'):
            optim_wrapper.update_params(parsed_losses)
        skips = MessageHub.get_current_instance().get_info(
            'nonfinite_skips', 0)
        if skips:
            log_vars['nonfinite_skips'] = skips
        return log_vars

    def parse_losses(self, losses: Dict[str, Tensor]
                     ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """mmengine's sum of the loss terms, after :meth:`check_finite`.

        mmengine's single-process step and its distributed wrapper both
        call this between the loss and the optimizer steps, so a
        non-finite term never reaches either network nor the teacher's
        Eq. 8 update.
        """
        with record_function('tsal.check_finite'):
            self.check_finite(losses)
        return super().parse_losses(losses)

    @staticmethod
    def check_finite(losses: Dict[str, Tensor]) -> None:
        """Raise :class:`NonFiniteLossError` if a loss term is not finite.

        Args:
            losses (dict): Named terms as :meth:`loss` returns them; the
                ones whose name contains ``'loss'`` (those mmengine sums)
                are checked, with one host synchronisation.

        Raises:
            NonFiniteLossError: naming the iteration (as counted in the
                log), and the network and the term of each bad value.
        """
        names = [name for name in losses if 'loss' in name]
        if not names:
            return
        # one value per term, as mmengine reduces it (mean, or the sum of
        # the means of a list)
        values = torch.stack([
            sum(v.detach().float().mean() for v in losses[name])
            if isinstance(losses[name], (list, tuple)) else
            losses[name].detach().float().mean() for name in names
        ])
        finite = torch.isfinite(values)
        if bool(finite.all()):
            return
        it = MessageHub.get_current_instance().get_info('iter', 0) or 0
        bad = []
        for name, value, ok in zip(names, values.tolist(), finite.tolist()):
            if not ok:
                network, _, term = name.rpartition('/')
                bad.append(f'network {network or "-"!r} term {term!r} = '
                           f'{value}')
        raise NonFiniteLossError(it + 1, bad)

    def _skip_batch(self, error: NonFiniteLossError,
                    buffers: List[Tensor]) -> Dict[str, int]:
        """Undo a skipped batch's statistics updates and count the skip."""
        with torch.no_grad():
            for buf, saved in zip(self.buffers(), buffers):
                buf.copy_(saved)
        hub = MessageHub.get_current_instance()
        skips = hub.get_info('nonfinite_skips', 0) + 1
        hub.update_info('nonfinite_skips', skips)
        print_log(
            f'non-finite loss at training iteration {error.iteration}: '
            f'{"; ".join(error.terms)}; batch skipped ({skips} so far)',
            logger='current',
            level=logging.WARNING)
        return {'nonfinite_skips': skips}

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Landmarks of every frame from the teacher (or the student).

        Args:
            inputs (Tensor): Frames [M, 3, H, W].
            data_samples (list[PoseDataSample]): M frame samples.

        Returns:
            list[PoseDataSample]: with ``pred_instances.keypoints`` [1, N, 2]
            in image pixels (the fused p = gamma*p_M + (1-gamma)*p_C).
        """
        with record_function(f'{self.predict_on}.predict'):
            return self.predictor.predict(inputs, data_samples)

    # ------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------
    def _load_state_dict_pre_hook(self, state_dict, prefix, local_meta,
                                  *args, **kwargs) -> None:
        """Load plain single-network checkpoints into both networks.

        A state dict without ``teacher.``/``student.`` keys (e.g. from a
        :class:`TSALNetwork` or an mmpose ``TopdownPoseEstimator`` with the
        same backbone and head) is copied into every network.
        """
        super()._load_state_dict_pre_hook(state_dict, prefix, local_meta,
                                          *args, **kwargs)
        own = [k for k in state_dict if k.startswith(prefix)]
        rel = [k[len(prefix):] for k in own]
        if any(r.split('.', 1)[0] in _ROLES for r in rel):
            return
        for key, r in zip(own, rel):
            if r.startswith('data_preprocessor.') or \
                    r.split('.', 1)[0] in ('sic_loss', 'mfds_loss',
                                           'pseudo_loss'):
                continue
            value = state_dict.pop(key)
            for role in self.networks:
                state_dict[f'{prefix}{role}.{r}'] = value

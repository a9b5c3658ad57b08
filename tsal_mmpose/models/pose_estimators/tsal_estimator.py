"""The teacher-student asynchronous learning estimator (TSAL, Sec. 3)."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmpose.models.pose_estimators.base import BasePoseEstimator
from mmpose.registry import MODELS
from mmpose.utils.typing import (ConfigType, OptConfigType, OptMultiConfig,
                                 SampleList)
from torch import Tensor

from ..losses.pseudo_heatmap_loss import student_pseudo_targets
from ..losses.sic_loss import face_box_width
from ..losses.unsup_weight import unsup_weight
from ..utils.flow_ops import track_points
from ..utils.keypoint_decoding import decode_clor_torch, decode_heatmap_torch
from .tsal_network import TSALNetwork

__all__ = ['TSALEstimator']

_ROLES = ('teacher', 'student')


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
    TSAL config unchanged. A batch holds ``B`` clips of
    ``K`` frames, flattened clip-major to ``B*K`` frames by
    :class:`ClipDataPreprocessor`; frame 0 of each clip is labelled.

    Per network (the "same pipeline", Eq. 1) the loss is
    ``l_s = L_I + w(t) L_D + l_M + l_C + l_E``: the head's supervised terms
    on labelled frames (l_M, l_C), the motion-field loss (l_E), the facial
    structure invariant constraint (L_I, Eq. 2, :class:`SICLoss`) and the
    motion field deviation suppression (L_D, Eq. 3, :class:`MFDSLoss`). The
    "different pipelines" add the pseudo-heatmap loss ``w(t) L_d``: the
    teacher's targets are its tracks ``phi(V^R, p_l)`` (Eq. 4, Eq. 6), the
    student's ``mu * phi(V^S, p_l) + (1 - mu) * p_C^S`` (Eq. 5 as corrected
    in the reading notes, Eq. 7). Pseudo-labels and detections used as
    targets are detached.

    Both networks take their own gradient step (Algorithm 1, lines 2-3): the
    returned dict sums to ``L^R + L^S``, and since the two share no
    parameters and all targets are detached, each network's gradient is that
    of its own loss. The queue-averaged teacher update (Eq. 8) is
    :class:`QueueTeacherHook`'s job.

    The single-network rows of the paper's ablation use the same per-network
    function with ``two_networks=False`` (only ``teacher`` is built) and
    usually ``use_pseudo_labels=False``.

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
        use_sic (bool): Add L_I (Eq. 2). Defaults to True.
        use_mfds (bool): Add L_D (Eq. 3). Defaults to True.
        use_pseudo_labels (bool): Add the pseudo-heatmap losses (Eq. 4/5).
            Defaults to True.
        mu (float): Weight of the tracking source in the student's targets
            (Eq. 5). Defaults to 0.6 (the paper's best, Fig. 6).
        same_init (bool): Start the student as a copy of the teacher.
            Defaults to True.
        unsup_weight (dict): The schedule of w(t):
            ``dict(ramp_up, hold, total, unit='epoch' | 'iter')``; see
            :func:`unsup_weight`. Defaults to the paper's 60/110/140 epochs.
        sic_loss (dict): Config of the SIC loss.
        mfds_loss (dict): Config of the MFDS loss.
        pseudo_loss (dict): Config of the pseudo-heatmap loss; without a
            ``sigma`` it takes the head codec's, so that pseudo-labels are
            rendered like the labelled targets.
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
                 use_sic: bool = True,
                 use_mfds: bool = True,
                 use_pseudo_labels: bool = True,
                 mu: float = 0.6,
                 same_init: bool = True,
                 unsup_weight: ConfigType = dict(
                     ramp_up=60, hold=110, total=140, unit='epoch'),
                 sic_loss: ConfigType = dict(type='SICLoss', loss_weight=1.0),
                 mfds_loss: ConfigType = dict(
                     type='MFDSLoss', loss_weight=1.0),
                 pseudo_loss: ConfigType = dict(
                     type='PseudoHeatmapLoss', loss_weight=1.0),
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
        if unsup_weight.get('unit', 'epoch') not in ('epoch', 'iter'):
            raise ValueError("unsup_weight['unit'] must be 'epoch' or 'iter'")
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
        self.use_sic = use_sic
        self.use_mfds = use_mfds
        self.use_pseudo_labels = use_pseudo_labels
        self.mu = mu
        self.same_init = same_init
        self.unsup_weight_cfg = dict(unsup_weight)
        self.sic_loss = MODELS.build(sic_loss)
        self.mfds_loss = MODELS.build(mfds_loss)
        self.pseudo_loss = MODELS.build(
            self._with_codec_sigma(pseudo_loss, head, use_pseudo_labels))
        self._register_load_state_dict_pre_hook(self._load_state_dict_pre_hook)

    @staticmethod
    def _with_codec_sigma(pseudo_loss: ConfigType, head: ConfigType,
                          required: bool) -> dict:
        """``pseudo_loss`` with the head codec's sigma unless it sets one
        (an error if it is ``required`` and there is none)."""
        pseudo_loss = dict(pseudo_loss)
        if 'sigma' not in pseudo_loss:
            sigma = (head.get('decoder') or {}).get('sigma')
            if sigma is None and not required:
                return pseudo_loss
            if sigma is None:
                raise ValueError(
                    'pseudo_loss has no `sigma` and the head has no decoder '
                    'with one; set model.pseudo_loss.sigma')
            pseudo_loss['sigma'] = sigma
        return pseudo_loss

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
    # training
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
        """Losses of both networks on a batch of clips.

        Args:
            inputs (Tensor): Frames [B*K, 3, H, W], clip-major.
            data_samples (list[PoseDataSample]): B*K frame samples; metainfo
                ``clip_len`` (K) and ``labelled``.

        Returns:
            dict: ``teacher/loss_*`` and ``student/loss_*`` terms (summed by
            mmengine into ``L^R + L^S``) and ``unsup_weight`` (logged).
        """
        clip_len = int(data_samples[0].metainfo.get('clip_len', 1))
        if len(data_samples) % clip_len:
            raise ValueError(f'{len(data_samples)} frames do not form clips '
                             f'of {clip_len} frames')
        w = self.current_unsup_weight()
        losses = {'unsup_weight': inputs.new_tensor(w)}
        for role, net in self.networks.items():
            terms = self.network_loss(net, role, inputs, data_samples,
                                      clip_len, w)
            losses.update({f'{role}/{k}': v for k, v in terms.items()})
        return losses

    def network_loss(self, net: TSALNetwork, role: str, inputs: Tensor,
                     data_samples: SampleList, clip_len: int,
                     w: float) -> Dict[str, Tensor]:
        """One network's loss: Eq. 1 plus its pseudo-heatmap term (Eq. 4/5).

        Args:
            net (TSALNetwork): The teacher or the student.
            role (str): ``'teacher'`` (tracking targets, Eq. 4) or
                ``'student'`` (fused targets, Eq. 5).
            inputs (Tensor): Frames [B*K, 3, H, W].
            data_samples (list[PoseDataSample]): B*K frame samples.
            clip_len (int): K.
            w (float): w(t).

        Returns:
            dict: the named loss terms of this network.
        """
        feats = net.extract_feat(inputs)
        outputs = net.head.forward(feats)
        losses = net.head.loss_by_outputs(
            outputs, data_samples, train_cfg=net.train_cfg)
        if clip_len < 2 or not net.with_motion_field:
            return losses

        heatmaps = outputs[0]
        batch = heatmaps.shape[0] // clip_len
        images = inputs.view(batch, clip_len, *inputs.shape[1:])
        mfe = net.motion_field
        # flows [B, K-1, 2, h, w] in heatmap pixels (l_E, Eq. 1)
        if getattr(mfe.loss_module, 'needs_backward_flows', False):
            flows, backward_flows = mfe(images, return_backward=True)
        else:
            flows, backward_flows = mfe(images), None
        losses.update(mfe.loss(images, flows, backward_flows))

        p_m, p_c, offsets_at_center = self.clip_detections(outputs, clip_len)
        if self.use_sic:
            # Eq. 2: box_w of the CLOR landmarks of each frame is a scale,
            # not a target: no gradient through it.
            box_w = face_box_width(p_c).detach()
            losses['loss_sic'] = self.sic_loss(offsets_at_center, box_w)
        if self.use_mfds:
            # Eq. 3: track the frame-0 detection to frame K-1 through V.
            tracked = track_points(flows, p_m[:, 0])[:, -1]
            losses['loss_mfds'] = w * self.mfds_loss(tracked, p_m[:, -1])
        if self.use_pseudo_labels:
            tracks, valid = self.clip_tracks(net, flows.detach(),
                                             data_samples, clip_len, heatmaps)
            if valid.any():
                targets = self.pseudo_targets(role, tracks[:, 1:],
                                              p_c[:, 1:])
                pred = heatmaps.view(batch, clip_len,
                                     *heatmaps.shape[1:])[:, 1:]
                losses['loss_pseudo'] = w * self.pseudo_loss(
                    pred[valid], targets[valid])
            else:
                losses['loss_pseudo'] = heatmaps.sum() * 0.0
        return losses

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

    def pseudo_targets(self, role: str, tracks: Tensor,
                       p_c: Tensor) -> Tensor:
        """A network's pseudo-label landmarks on unlabelled frames.

        Args:
            role (str): ``'teacher'``: its tracks (Eq. 4); ``'student'``:
                ``mu * tracks + (1 - mu) * p_C`` (Eq. 5).
            tracks (Tensor): ``[B, K', N, 2]``.
            p_c (Tensor): ``[B, K', N, 2]``, the same frames.

        Returns:
            Tensor: ``[B, K', N, 2]``, detached.
        """
        if role == 'teacher':
            return tracks.detach()
        return student_pseudo_targets(tracks, p_c, self.mu)

    @staticmethod
    def labelled_points(net: TSALNetwork, data_samples: SampleList,
                        clip_len: int, heatmap_width: int,
                        like: Tensor) -> Tuple[Tensor, Tensor]:
        """The labelled landmarks p_l of each clip's frame 0.

        Read from the frame's encoded targets (integer face centre + CLOR
        offsets, exactly the transformed landmarks in heatmap pixels), so
        the crop and augmentation of the pipeline are already applied.

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

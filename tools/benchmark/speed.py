#!/usr/bin/env python3
"""Speed of TSAL against a plain mmpose top-down model, in one run.

Both models are built from the same config: TSAL from its ``model``, the
plain model as an mmpose ``TopdownPoseEstimator`` with the same backbone,
neck and input size and a ``HeatmapHead`` (MSRAHeatmap codec, the TSAL
head's trunk) trained with ``KeypointMSELoss`` on every frame. Measured on
the same machine, with the same frames, and interleaved (A B A B ...) so
that machine noise hits both alike:

1. **training step** of TSAL (both networks, motion fields, all losses,
   Adam step, Eq. 8 teacher update of ``QueueTeacherHook``) on ``B`` clips
   of ``K`` frames over a plain training step on the same ``B*K`` frames;
2. **inference latency** of the teacher (``TSALEstimator.predict``,
   decoding included, flip test off, eval mode, no grad) over the plain
   model's on the same ``B*K`` frames;
3. **clip data pipeline throughput** (frames/s delivered by the config's
   training dataloader, augmentation included) over the TSAL training
   consumption (``B*K`` frames / training step time);
4. **peak memory** of a TSAL training step over a plain one: peak resident
   set of a forked process over the resident set before the model is
   built on CPU, ``torch.cuda.max_memory_allocated`` on CUDA. Inference
   peaks are reported too.

Step and latency batches are synthetic (random textures moving across the
frames, a parametric 68-point face, targets encoded by the codecs), so they
do not depend on the data loader. The data pipeline runs on a converted
300VW-layout dataset: ``--data-root``, or else a small synthetic benchmark
generated into a temporary folder.

With ``--amp bf16``, ``--channels-last`` or ``--compile`` the inference
section also times a "fast path" of both models (channels-last memory,
bfloat16 autocast, ``torch.compile`` of backbone + neck + head; compile
mode ``reduce-overhead`` uses CUDA graphs) against the eager float32 path
(faces/s and max |difference| of the predictions in pixels); ``--amp`` and
``--channels-last`` also apply to both training steps. Under ``--amp``
both heads hand their outputs on in float32 (``Float32Outputs``: numpy,
which their losses and decoders use, has no bfloat16).

Every ratio is given as min / median / max over ``--repeats`` paired
measurements after ``--warmup`` untimed ones; on CPUs the CPU time of the
training steps is reported beside the wall time (it does not count time
spent descheduled on a shared machine, where ``--threads 1`` also avoids
the collapse of multi-threaded kernels under oversubscription), and so is
its system part, mostly the kernel's page faults when glibc maps freed
activations anew at every step (``--retain-freed-memory`` keeps them in
the process, as ``tools/train.py --retain-freed-memory`` does). With
``--profile``, torch.profiler lists the ranges that the TSAL estimator
opens at its named steps (``teacher.*``, ``student.*``, ``tsal.*``), the
benchmark's own (``bench/*``) and module totals of both models
(``module/*``), and the FLOPs of both models are counted per module (a
machine-independent account of the ratios). Progress goes to stderr: a
line after the warm-up and after each timed round, and one per section
(the numbers so far are then in ``--out``). The results are printed as
markdown tables and written as JSON (``--out``). The code is in
``speed_benchmark/`` beside this file.

Examples::

    # CPU, the tiny config (synthetic data generated on the fly)
    python tools/benchmark/speed.py --threads 1 --repeats 5 \\
        --out speed_cpu.json
    # GPU, HRNetV2-W18 at 256x256, a batch-size sweep and the fast path
    python tools/benchmark/speed.py --config configs/tsal_hrnet_300vw.py \\
        --device cuda --batch-sizes 1 4 8 16 --amp bf16 --channels-last \\
        --compile --out speed_h200.json
    # where the time goes (torch.profiler, per step and module)
    python tools/benchmark/speed.py --repeats 1 --profile
    # CPU, the paper's config, glibc keeping freed memory
    python tools/benchmark/speed.py --config configs/tsal_hrnet_300vw.py \\
        --batch-sizes 1 --threads 2 --retain-freed-memory
"""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import speed_benchmark  # noqa: E402
from speed_benchmark import *  # noqa: E402,F401,F403  (the tool's API)

__all__ = list(speed_benchmark.__all__)

if __name__ == '__main__':
    speed_benchmark.main()

#!/usr/bin/env bash
# TSAL against stock mmpose on one CUDA GPU, in one command, with the
# paper's config (HRNetV2-W18 at 256x256, clips of 10 frames). Steps, the
# most wanted first:
#   1. fp32: float32 (cuDNN's default TF32 convolutions), training step
#      and inference at 8 and 25 clips;
#   2. fp32_compiled: the float32 inference fast path (channels-last,
#      torch.compile) after fitting both models to the first clips of the
#      benchmark batch, so that the agreement of its landmarks with eager
#      float32 on their frames means something;
#   3. memory_loader: peak memory, and the clip data pipeline against
#      training consumption;
#   4. bf16: bfloat16 autocast + channels-last, training step and the
#      eager inference fast path against eager float32;
#   5. bf16_compiled: the bfloat16 fast path, compiled;
#   6. profile: where the training step's and inference's time goes
#      (torch.profiler: the estimator's named steps and module totals).
# Each step has its own time limit and writes OUT_DIR/<step>.json as it
# goes, so a step stopped by its limit keeps what it measured. With
# BUDGET (seconds, installation included) set, a step gets at most what
# is left of it and is skipped, saying so, when less than its minimum is
# left. STEPS (names separated by spaces) runs only those steps, in the
# order above. The whole output is in OUT_DIR/log.txt.
#
#   bash tools/benchmark/gpu_benchmark.sh OUT_DIR [WHEELHOUSE]
#
# WHEELHOUSE (from tools/benchmark/gpu_wheelhouse.sh) installs the
# OpenMMLab stack into /tmp/tsal_site first, for machines without internet
# or without the stack; mmcv's ops are compiled there against the local
# torch (about 4 minutes with 16 cores on an H200 machine). CONFIG, DEVICE
# (default cuda), PYTHON, BUDGET, STEPS and the step limits FP32_LIMIT,
# COMPILE_LIMIT, BF16_LIMIT, LOADER_LIMIT, BF16_COMPILE_LIMIT and
# PROFILE_LIMIT (seconds) can be set in the environment.
set -uo pipefail
OUT=${1:?usage: gpu_benchmark.sh OUT_DIR [WHEELHOUSE]}
WHEELHOUSE=${2:-}
PY=${PYTHON:-python3}
CFG=${CONFIG:-configs/tsal_hrnet_300vw.py}
BUDGET=${BUDGET:-0}
STEPS=${STEPS:-}
START=$(date +%s)
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1

stamp() { echo "[gpu-benchmark $(date -u +%H:%M:%S)] $*"; }

install_stack() {
  local site=/tmp/tsal_site tools=/tmp/tsal_buildtools
  if PYTHONPATH=$site "$PY" -c 'import mmcv.ops, mmpose' 2>/dev/null; then
    return 0
  fi
  mkdir -p "$site" "$tools"
  stamp "installing the OpenMMLab stack from $WHEELHOUSE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" \
    $(ls "$WHEELHOUSE"/*.whl | grep -v '/setuptools-') || return 1
  "$PY" -m pip install -q --no-index --no-deps --target "$tools" \
    "$WHEELHOUSE"/setuptools-*.whl || return 1
  SECONDS=0
  PYTHONPATH=$tools:$site "$PY" -m pip install -q --no-index --no-deps \
    --no-build-isolation --target "$site" \
    "$WHEELHOUSE"/xtcocotools-*.tar.gz || return 1
  stamp "xtcocotools built in ${SECONDS}s; compiling mmcv's ops"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$(nproc) PYTHONPATH=$tools:$site \
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
    --target "$site" "$WHEELHOUSE"/mmcv-*.tar.gz > /tmp/tsal_mmcv_build.log \
    2>&1 || { tail -30 /tmp/tsal_mmcv_build.log; return 1; }
  stamp "stack installed in ${SECONDS}s"
}

if [ -n "$WHEELHOUSE" ]; then
  install_stack || { stamp "installing the stack failed"; exit 1; }
  export PYTHONPATH=/tmp/tsal_site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
DEVICE=${DEVICE:-cuda}
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
    --format=csv
fi
echo "host: $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$PY" -c 'import torch, mmcv, mmpose; print("torch", torch.__version__, \
"cuda", torch.version.cuda, "| mmcv", mmcv.__version__, "| mmpose", \
mmpose.__version__, "|", torch.cuda.get_device_name() \
if torch.cuda.is_available() else "no GPU")' || exit 1

run() {  # run NAME LIMIT_S MIN_S ARGS...: one speed.py invocation
  local name=$1 limit=$2 min=$3 left
  shift 3
  if [ -n "$STEPS" ] && [[ " $STEPS " != *" $name "* ]]; then
    stamp "$name: not in STEPS"
    return
  fi
  if [ "$BUDGET" -gt 0 ]; then
    left=$(( BUDGET - ($(date +%s) - START) ))
    if [ "$left" -lt "$min" ]; then
      stamp "$name: skipped, ${left}s of the budget left (needs ${min}s)"
      return
    fi
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  stamp "$name: speed.py $* (limit ${limit}s)"
  SECONDS=0
  timeout "$limit" "$PY" -W ignore tools/benchmark/speed.py --config "$CFG" \
    --device "$DEVICE" --out "$OUT/$name.json" "$@"
  stamp "$name: exit $? after ${SECONDS}s"
}

# fit 2 clips (they lead every batch) for 100 steps: 10 steps on a whole
# batch left the face-centre maxima flat, so bfloat16 moved them all; with
# this fit, on the CPU with the tiny config, 97% of the fitted frames'
# landmarks stayed within 0.1 px in bfloat16
fit=(--fit-steps 100 --fit-clips 2)
run fp32 ${FP32_LIMIT:-90} 45 --batch-sizes 8 25 --warmup 1 --repeats 3 \
  --skip memory loader
run fp32_compiled ${COMPILE_LIMIT:-180} 120 --batch-sizes 25 --warmup 2 \
  --repeats 3 --channels-last --compile "${fit[@]}" \
  --skip train memory loader
run memory_loader ${LOADER_LIMIT:-60} 40 --batch-sizes 8 --warmup 1 \
  --repeats 3 --skip inference \
  --num-workers "$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))" --loader-batches 8
run bf16 ${BF16_LIMIT:-90} 60 --batch-sizes 25 --warmup 1 --repeats 3 \
  --amp bf16 --channels-last "${fit[@]}" --skip memory loader
run bf16_compiled ${BF16_COMPILE_LIMIT:-150} 100 --batch-sizes 25 \
  --warmup 2 --repeats 3 --amp bf16 --channels-last --compile \
  "${fit[@]}" --skip train memory loader
run profile ${PROFILE_LIMIT:-60} 40 --batch-sizes 8 --warmup 1 --repeats 1 \
  --profile --profile-calls 2 --skip loader memory
stamp "done after $(( $(date +%s) - START ))s"

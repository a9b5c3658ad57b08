#!/usr/bin/env bash
# Collect what an offline GPU machine needs to run tools/benchmark/
# gpu_benchmark.sh: wheels of the OpenMMLab stack for its Python (default
# 3.12) and the sources of the two packages compiled there (xtcocotools
# against its numpy, mmcv's ops against its torch). Run it where PyPI can
# be reached; the machine itself needs torch, numpy, opencv and a compiler.
#
#   bash tools/benchmark/gpu_wheelhouse.sh [DIR] [PYTHON_VERSION]
set -euo pipefail
DIR=${1:-.whl}
PYV=${2:-3.12}
mkdir -p "$DIR"
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
         manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  plat+=(--platform "$p")
done
echo "[wheelhouse] wheels for Python $PYV into $DIR"
python3 -m pip download -q --no-deps --only-binary=:all: \
  --python-version "$PYV" --implementation cp "${plat[@]}" -d "$DIR" \
  mmengine==0.10.7 mmpose==1.3.2 mmdet==3.3.0 addict yapf platformdirs \
  termcolor json_tricks munkres==1.1.4 terminaltables shapely pycocotools \
  'setuptools<70'
# mmcv's setup.py imports pkg_resources while pip reads the sdist's
# metadata, so the sources are fetched from a venv with setuptools < 70.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q 'setuptools<70' wheel numpy cython
"$tmp/venv/bin/pip" download -q --no-deps --no-binary :all: \
  --no-build-isolation -d "$DIR" xtcocotools==1.14.3 mmcv==2.1.0
ls -la "$DIR"

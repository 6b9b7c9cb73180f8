#!/usr/bin/env bash
# Downloads into launch/accelerator/wheels/ the wheels that an accelerator host without
# TensorFlow lacks (cp312, manylinux x86_64), at the versions the TF-free environment
# (.venv-notf) runs. The host's own JAX, Flax, Optax and Orbax stay: they are matched to each
# other there (a flax 0.12.8 wheel fails to import under JAX 0.11.2).
#
#   bash launch/accelerator/fetch_wheels.sh [DIR]     # default launch/accelerator/wheels
#
# PYTHON (default python3) runs pip; it also needs setuptools and wheel, to build the one
# pure-Python package published as source only (promise) into a wheel, offline.
#
# Left out: pesq, pystoi and visqol-python (the metrics extra: source-only or large); the
# accelerator run scores without them. Each pin's own Requires-Dist is either pinned here or
# already on the host (absl-py, attrs, numpy, scipy, scikit-learn, joblib, numba, msgpack,
# lazy-loader, packaging, requests, protobuf, psutil, pyarrow, pyyaml, six, tqdm, wrapt,
# typing-extensions, fsspec, zipp, etils, einops, cloudpickle, tensorboard, matplotlib).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${1:-$HERE/wheels}"
PYTHON="${PYTHON:-python3}"
MAX_MIB=40

WHEELS=(
  # TFDS (reads and prepares the array_record dataset without TensorFlow) and its needs
  tensorflow-datasets==4.9.10
  array_record==0.8.6
  dm-tree==0.1.10
  immutabledict==4.3.1
  simple-parsing==0.1.9
  docstring_parser==0.18.0
  tensorflow-metadata==1.21.0
  googleapis-common-protos==1.76.0
  termcolor==3.3.0
  toml==0.10.2
  importlib_resources==7.1.0
  # the Grain input path and the configs
  grain==0.2.18
  portpicker==1.6.0
  ml_collections==1.1.0
  # audio I/O, resampling and codecs
  librosa==0.11.0
  audioread==3.1.0
  decorator==5.3.1
  pooch==1.9.0
  platformdirs==4.14.9
  soundfile==0.14.0
  cffi==2.1.1
  pycparser==3.12
  soxr==1.1.0
  lameenc==1.9.0
)
# Published as source only; pure Python, so the wheel built here from it installs anywhere.
SOURCE_ONLY=(
  promise==2.3  # tensorflow-datasets imports it
)

rm -rf "$DIR.part" "$DIR.sdist"
mkdir -p "$DIR.part" "$DIR.sdist"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$DIR.part" "${WHEELS[@]}"
"$PYTHON" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d "$DIR.sdist" \
  "${SOURCE_ONLY[@]}"
"$PYTHON" -m pip wheel -q --no-deps --no-index --no-build-isolation -w "$DIR.part" "$DIR.sdist"/*
rm -rf "$DIR.sdist"
# One version of each package: a stale wheel beside a new one stops the host's install.
rm -rf "$DIR"
mv "$DIR.part" "$DIR"
total=$(du -cb "$DIR"/*.whl | tail -1 | cut -f1)
count=$(find "$DIR" -name '*.whl' | wc -l)
mib=$(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "$count wheels, $mib MiB in $DIR"
if [ "$total" -gt $((MAX_MIB * 1048576)) ]; then
  echo "fetch_wheels: $mib MiB is over the $MAX_MIB MiB the accelerator run carries" >&2
  exit 1
fi

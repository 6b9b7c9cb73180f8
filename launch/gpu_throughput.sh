#!/usr/bin/env bash
# Accelerator throughput in one call: the benchmark's train section (steps/s, FLOPs, MFU, XLA
# memory) for regression, the projected GAN and the predictive bridge at one size, in float32
# and bfloat16, plus a profiler trace of the bfloat16 regression step; the input section too
# where TensorFlow is installed (it prepares that size's dataset first, which takes codec time).
#
#   bash launch/gpu_throughput.sh OUT_DIR [SIZE=base] [STEPS=20] [BENCHMARK FLAGS...]
#
# Run it from the repository root; METHODS (env) replaces the method list. Each measurement is
# OUT_DIR/<method>-<dtype>.json (its log beside it); the one-line summaries are in
# OUT_DIR/summary.txt. The train section needs only JAX, Flax, Optax, Orbax, absl and
# ml-collections (no TensorFlow, codecs or data), so it runs on a bare GPU image.
set -euo pipefail
out=${1:?usage: launch/gpu_throughput.sh OUT_DIR [SIZE] [STEPS]}
size=${2:-base}
steps=${3:-20}
shift $(($# < 3 ? $# : 3))
py=${PYTHON:-python3}
mkdir -p "$out"
sections=train
if "$py" -c 'import tensorflow, tensorflow_datasets' 2>/dev/null; then
  sections=input,train
else
  echo "no TensorFlow here: measuring the train step only (the input section needs tf.data)" \
    | tee -a "$out/summary.txt"
fi
"$py" -c 'import jax; print("devices:", jax.devices())' | tee -a "$out/summary.txt"
for method in ${METHODS:-regression projected_gan predictive_bridge}; do
  for dtype in float32 bfloat16; do
    profile=()
    if [ "$method.$dtype" = regression.bfloat16 ]; then profile=(--profile="$out/trace"); fi
    "$py" -m restoration.benchmark --config="configs/$method.py:$size" \
      --config.train.compute_dtype="$dtype" --sections="$sections" --steps="$steps" \
      --json="$out/$method-$dtype.json" "${profile[@]}" "$@" 2>"$out/$method-$dtype.log" \
      | grep '^train (' | sed "s/^/$method $size: /" | tee -a "$out/summary.txt" \
      || { echo "$method $dtype failed: tail of $out/$method-$dtype.log" | tee -a "$out/summary.txt";
           tail -5 "$out/$method-$dtype.log"; }
  done
done

#!/usr/bin/env bash
# One prepared run for a session that is lent a GPU (15 minutes of device time in all, this script
# within 10): the cuDNN tests, XLA's loop beside cuDNN (benchmarks.unroll_options, LSTM), then the
# fused-path tests, with results where benchmarks.report reads them. On an H200 (2026-12-04) XLA's
# autotuning made every training-step compilation take about 10 s. Run it from the repository root:
#
#     bash benchmarks/gpu_session.sh                       # results in benchmarks/results/gpu/
#     OUT=$OUT/gpu bash benchmarks/gpu_session.sh          # under the device tool, so they come back
#
# Every step has a timeout and the script goes on after a failure, so one stuck step cannot spend
# the session; summary.txt lists each step's exit status and seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
: > "$OUT/summary.txt"

step() {  # step NAME SECONDS COMMAND...: runs COMMAND under a timeout, logs to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local status=$?
    echo "$name: exit $status in $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
}

# The lent machines have no package registry but an image with JAX (CUDA), flax, optax, orbax, chex,
# pytest, torch and equinox: use it as it is (python -m runs seqjax from this folder). Elsewhere, install.
if python3 -c "import jax, optax, orbax.checkpoint, chex, pytest; assert jax.default_backend() == 'gpu'" > /dev/null 2>&1; then
    echo "install: the image's python3, nothing installed" | tee -a "$OUT/summary.txt"
else
    step install 240 bash -c "python3 -m venv .venv-gpu && . .venv-gpu/bin/activate && pip install -q -e '.[test,bench]' 'jax[cuda12]'"
    . .venv-gpu/bin/activate
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false
step devices 60 python3 -c "import jax, jaxlib, torch; print(jax.__version__, jaxlib.__version__, torch.__version__, jax.devices(), jax.devices()[0].device_kind)"
step cudnn_tests 150 python3 -m pytest -q -rs tests/test_cudnn.py
step unroll_options 240 python3 -m benchmarks.unroll_options --cells=lstm --compile_threads=8 --reps=5 --budget_s=2 --out="$OUT/unroll_options.json"
step fused_tests 120 python3 -m pytest -q -rs tests/test_fused.py
step report 60 python3 -m benchmarks.report --rerun=false --results="$OUT" --out="$OUT/BENCHMARKS_GPU.md"
cat "$OUT/summary.txt"

#!/usr/bin/env bash
# One prepared run for a session that is lent a GPU (15 minutes of device time in all, this script
# within 10): install, the GPU tests (the cuDNN LSTM path has never run on hardware), then the short
# GPU benchmarks, with results where benchmarks.report reads them. Run it from the repository root:
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

step install 240 bash -c "python3 -m venv .venv-gpu && . .venv-gpu/bin/activate && pip install -q -e '.[test,bench]' 'jax[cuda12]'"
. .venv-gpu/bin/activate
export XLA_PYTHON_CLIENT_PREALLOCATE=false
step devices 60 python -c "import jax; print(jax.__version__, jax.devices(), jax.devices()[0].device_kind)"
step tests 180 python -m pytest -q -x tests/test_cudnn.py tests/test_fused.py
step rnn_step 150 python -m benchmarks.rnn_step --cells=lstm --cudnn=true --compile_threads=4 --reps=3 --budget_s=5 --out="$OUT/rnn_step.json"
step unroll_options 90 python -m benchmarks.unroll_options --cells=lstm --compile_threads=4 --reps=3 --budget_s=3 --out="$OUT/unroll_options.json"
step report 60 python -m benchmarks.report --rerun=false --results="$OUT" --out="$OUT/BENCHMARKS_GPU.md"
cat "$OUT/summary.txt"

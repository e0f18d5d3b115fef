"""Multi-process training: two local JAX processes on the CPU (two host devices each, coordinator on
127.0.0.1, gloo collectives) against one process with four devices and the same global batch; an
exact resume of the two-process run; the shards; the launcher and ``initialize``'s errors."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from seqjax import data
from seqjax.train import distributed, launch
from tests.conftest import process_env, xla_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = process_env(None)  # devices come from --local_devices (SEQJAX_LOCAL_DEVICES)


def _train(run_dir, steps, processes, status=0, **env):
    trainer = [sys.executable, "-m", "tests.distributed_trainer", str(run_dir), str(steps)]
    command = trainer if processes == 1 else [sys.executable, "-m", "seqjax.train.launch", f"--processes={processes}",
                                              "--local_devices=2", "--", *trainer]
    done = subprocess.run(command, cwd=ROOT, env={**ENV, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _losses(run_dir):
    return [m["loss"] for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch_and_resume_exactly(tmp_path):
    assert "processes 1, devices 4, step 12" in _train(tmp_path / "one", 12, processes=1)
    out = _train(tmp_path / "two", 12, processes=2)
    assert "processes 2, devices 4, step 12" in out and "[p1] step" not in out  # process 0 alone reports progress
    single, multi = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(single) == len(multi) == 12
    np.testing.assert_allclose(multi, single, rtol=1e-5)
    a, b = np.load(tmp_path / "one" / "final.npz"), np.load(tmp_path / "two" / "final.npz")
    assert sorted(a) == sorted(b)
    for name in a:  # the all-reduce over two processes sums in another order than one process does
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6)
    # the processes padded their rows to different lengths at some step, and put_batch made them agree
    assert sum(int((tmp_path / "two" / f"padded.{p}").read_text()) for p in (0, 1)) >= 1

    # one process killed by SIGKILL after step 7: the launcher stops the other, and a new pair resumes from step 4
    _train(tmp_path / "killed", 12, processes=2, status=128 + 9, SEQJAX_KILL_AT_STEP="7")
    assert "resumed from" in _train(tmp_path / "killed", 12, processes=2)
    assert (tmp_path / "killed" / "final.sha256").read_text() == (tmp_path / "two" / "final.sha256").read_text()
    assert _losses(tmp_path / "killed") == multi  # bit for bit, each step logged once
    assert sorted(int(p.name) for p in (tmp_path / "killed" / "checkpoints").iterdir()) == [8, 12]  # keep=2


def test_each_process_reads_its_rows_of_the_same_global_batches():
    examples = list(range(40))
    collate = lambda rows: np.array(rows)  # noqa: E731
    whole = data.Batches(examples, 8, collate, seed=3, lengths=lambda e: e % 5)
    parts = [data.Batches(examples, 8, collate, seed=3, lengths=lambda e: e % 5, shard=(p, 2)) for p in range(2)]
    for _ in range(12):  # over an epoch boundary
        np.testing.assert_array_equal(np.concatenate([next(p) for p in parts]), next(whole))
    ids = np.arange(3000) % 17
    stream = data.TokenStream(ids, 6, 10, seed=1)
    shards = [data.TokenStream(ids, 6, 10, seed=1, shard=(p, 3)) for p in range(3)]
    for _ in range(len(stream) + 2):
        batch, parts_ = next(stream), [next(s) for s in shards]
        for name in ("ids", "targets"):
            np.testing.assert_array_equal(np.concatenate([p[name] for p in parts_]), batch[name])
        assert all(p["reset"] == batch["reset"] for p in parts_)
    with pytest.raises(ValueError, match=r"batch_size=6 does not divide over 4 processes"):
        data.TokenStream(ids, 6, 10, shard=(0, 4))
    with pytest.raises(ValueError, match=r"shard=\(2, 2\): the index must be in \[0, 2\)"):
        data.Batches(examples, 8, collate, shard=(2, 2))
    with pytest.raises(ValueError, match="needs drop_last=True"):
        data.Batches(examples, 8, collate, shard=(0, 2), drop_last=False)
    assert distributed.shard() is None and distributed.is_primary()  # one process: whole batches


def test_the_launcher_stops_the_others_when_one_fails_and_initialize_names_what_is_missing(monkeypatch):
    code = "import os, sys, time; sys.exit(3) if os.environ['JAX_PROCESS_ID'] == '1' else time.sleep(60)"
    assert launch.launch([sys.executable, "-c", code], 2, timeout_s=50) == 3
    with pytest.raises(ValueError, match="give the command"):
        launch.launch([], 2)
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"coordinator address, the number of processes and this process's id together"):
        distributed.initialize(processes=2)
    with pytest.raises(ValueError, match=r"process_id must be in \[0, 2\), got 2"):
        distributed.initialize("127.0.0.1:1", 2, 2)
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match=r"\$JAX_NUM_PROCESSES must be an integer, got 'two'"):
        distributed.initialize()


def test_a_sigterm_to_the_launcher_stops_every_process(tmp_path):
    import signal
    import time

    code = "import os, pathlib, time; pathlib.Path(f'pid.{os.environ[\"JAX_PROCESS_ID\"]}').write_text(str(os.getpid())); time.sleep(120)"
    launcher = subprocess.Popen([sys.executable, "-m", "seqjax.train.launch", "--processes=2", "--", sys.executable, "-c", code],
                                cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"pid.{i}").exists() and (tmp_path / f"pid.{i}").read_text() for i in (0, 1)):
        assert time.monotonic() < deadline and launcher.poll() is None
        time.sleep(0.1)
    pids = [int((tmp_path / f"pid.{i}").read_text()) for i in (0, 1)]
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=30) == 128 + signal.SIGTERM
    for pid in pids:  # both children were stopped and reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _one_process_and_two(name: str, args: list[str], tmp_path):
    """``experiments.<name>`` as one process on 4 host devices (out_dir ``one``) and as two processes of two
    devices each (``two``), through the experiment harness's --data_parallel and --distributed."""
    experiment = [sys.executable, "-m", f"experiments.{name}", *args]
    one = subprocess.run([*experiment, "--data_parallel=true", f"--out_dir={tmp_path / 'one'}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**ENV, "XLA_FLAGS": xla_flags(4)})
    two = subprocess.run([sys.executable, "-m", "seqjax.train.launch", "--processes=2", "--local_devices=2", "--", *experiment,
                          "--distributed=true", f"--out_dir={tmp_path / 'two'}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=ENV)
    assert one.returncode == 0 and two.returncode == 0, (one.stdout + one.stderr + two.stdout + two.stderr)[-3000:]
    return one, two


@pytest.mark.slow
def test_the_char_lm_command_runs_as_two_processes_as_it_runs_on_one(tmp_path):
    from tests.test_checkpoint import _text

    args = [f"--data={_text(tmp_path)}", "--steps=10", "--hidden=16", "--embed=8", "--batch=8", "--window=8", "--log_every=2",
            "--eval_every=0", "--eval_windows=1", "--sample_chars=10", "--save_every=5", "--warmup_steps=0", "--learning_rate=1e-2"]
    one, two = _one_process_and_two("char_lm", args, tmp_path)
    assert "process 0 of 2, 2 local devices" in two.stdout and "data parallel over 4 devices in 2 process(es)" in two.stdout
    final = [[m for m in map(json.loads, (tmp_path / name / "metrics.jsonl").read_text().splitlines()) if m["split"] == "eval"][-1]
             for name in ("one", "two")]
    np.testing.assert_allclose(final[1]["loss_bits"], final[0]["loss_bits"], rtol=1e-5)
    assert (tmp_path / "two" / "samples" / "step_10.txt").exists() and (tmp_path / "two" / "checkpoints" / "10").exists()


@pytest.mark.slow
def test_the_numbers_experiment_runs_as_two_processes_as_it_runs_on_one(tmp_path):
    # the main job, through experiments/harness.py: generated batches sharded by rows, decoding on local params
    args = ["--steps=6", "--batch=8", "--embed=8", "--hidden=8", "--log_every=1", "--eval_every=3", "--save_every=3",
            "--eval_per_length=2", "--beam_width=2", "--warmup_steps=0", "--learning_rate=1e-2"]
    one, two = _one_process_and_two("numbers", args, tmp_path)
    assert "data parallel over 4 devices in 2 process(es)" in two.stdout and "data parallel over 4 devices in 1 process(es)" in one.stdout
    metrics = [list(map(json.loads, (tmp_path / name / "metrics.jsonl").read_text().splitlines())) for name in ("one", "two")]
    for split in ("train", "eval"):
        rows = [[m for m in runs if m["split"] == split] for runs in metrics]
        assert len(rows[0]) == len(rows[1]) == (6 if split == "train" else 2)
        for a, b in zip(*rows):
            for name, value in a.items():
                if isinstance(value, float) and not name.endswith(("_s", "seconds", "second", "time")):
                    np.testing.assert_allclose(b[name], value, rtol=1e-5, err_msg=f"{split} {name}")
    results = [json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "two")]
    assert results[0]["greedy"] == results[1]["greedy"] and results[0]["beam"] == results[1]["beam"]
    assert (tmp_path / "two" / "model" / "meta.json").exists() and (tmp_path / "two" / "checkpoints" / "6").exists()


AGREEMENT = r"""
import numpy as np
from seqjax import train
index, count = train.distributed.initialize()
report = open(f"report.{index}", "w")
dp = train.DataParallel()
rows = np.full((2, 3 + index), index, np.int32)  # process 1 padded its rows longer
placed = dp.put_batch({"ids": rows, "lengths": np.array([1, 2])})
assert placed["ids"].shape == (4, 4), placed["ids"].shape
for bad in ({"ids": rows[:, :3], "reset": np.bool_(index == 0)}, {"ids": rows[: 1 + index, :3]},
            {"ids": rows[:, :3].astype(np.float32 if index else np.int32)}):
    try:
        dp.put_batch(bad)
        print("accepted", file=report, flush=True)
    except ValueError as error:
        print(str(error).split(";")[0], file=report, flush=True)
"""


def _with_a_hostname_that_does_not_resolve() -> list[str]:
    """A command prefix that runs under a made-up hostname (a new UTS namespace), where this machine allows
    it: gloo must not need the hostname when every process is local. Elsewhere, no prefix."""
    prefix = ["unshare", "-u", "sh", "-c", 'hostname seqjax-no-such-host && exec "$0" "$@"']
    try:
        probe = subprocess.run([*prefix, "hostname"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return prefix if probe.returncode == 0 and probe.stdout.strip() == "seqjax-no-such-host" else []


@pytest.mark.slow
def test_put_batch_pads_the_processes_rows_to_one_shape_and_names_what_cannot_agree(tmp_path):
    (tmp_path / "agree.py").write_text(AGREEMENT)
    done = subprocess.run([*_with_a_hostname_that_does_not_resolve(), sys.executable, "-m", "seqjax.train.launch", "--processes=2",
                           "--", sys.executable, "agree.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          # a proxy for the internet, as a CI machine may have: the local processes must not use it
                          env={**ENV, "PYTHONPATH": str(ROOT), "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for process in (0, 1):  # each process reports to its own file (their output to one terminal interleaves)
        assert (tmp_path / f"report.{process}").read_text().splitlines() == [
            "put_batch: a scalar in the batch differs between processes",
            "put_batch: the processes hold [1, 2] rows of one global batch",
            "put_batch: the processes' local batches differ in structure, dtype or rank"]


DISAGREEMENT = r"""
import jax, jax.numpy as jnp, numpy as np
from seqjax import train
from seqjax.train import checkpoint
index, count = train.distributed.initialize()
dp = train.DataParallel()
fresh = train.TrainState.create({"w": jnp.arange(4.0)}, train.optimizer(0.1), jax.random.key(0))
state = dp.put_state(fresh)
checkpoints = train.Checkpointer("checkpoints", every=1, keep=3)
for step in (1, 2):
    checkpoints.save(dp.put_state(fresh._replace(step=jnp.int32(step))), {"data": {"epoch": 0, "index": step}})
real, calls = checkpoint.checksum, []

def checksum_that_fails_once_on_process_1(tree):  # as if this process alone read step 2 damaged
    calls.append(1)
    return "damaged" if index == 1 and len(calls) == 1 else real(tree)

checkpoint.checksum = checksum_that_fails_once_on_process_1
restored, meta = checkpoints.restore(state)
open(f"report.{index}", "w").write(f"{int(restored.step)} {meta['data']['index']}")
"""


@pytest.mark.slow
def test_when_one_process_cannot_read_a_checkpoint_all_fall_back_to_the_previous_one_together(tmp_path):
    (tmp_path / "disagree.py").write_text(DISAGREEMENT)
    launched = [sys.executable, "-m", "seqjax.train.launch", "--processes=2", "--", sys.executable, "disagree.py"]
    try:  # before the fix, process 0 resumed from step 2 while process 1 waited for it to move step 2 aside
        done = subprocess.run(launched, cwd=tmp_path, env={**ENV, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the processes waited on each other: one resumed while the other fell back")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [(tmp_path / f"report.{p}").read_text() for p in (0, 1)] == ["1 1", "1 1"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["1", "corrupt-2"]
    assert "another process of this run could not read it" in done.stdout  # process 0's warning says why

"""Checkpoints: keep-K, chosen steps, corrupt and partial folders, and exact resume after SIGKILL
of a real experiment process."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seqjax import train
from tests.conftest import assert_close, xla_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_state(key, value=0.0):
    params = {"w": jnp.full((3, 2), value), "b": jnp.arange(2.0)}
    opt = optax.adam(1e-3)
    return train.TrainState.create(params, opt, key, carry={"h": jnp.ones((4, 5))})


def at_step(state, step):
    return state._replace(step=jnp.int32(step), params=jax.tree_util.tree_map(lambda p: p + step, state.params))


def test_save_every_keep_last_and_restore_latest_or_chosen(tmp_path, key):
    checkpoints = train.Checkpointer(tmp_path, every=10, keep=2)
    state = make_state(key)
    assert checkpoints.restore(state) is None  # nothing saved yet
    saved = [s for s in range(0, 45, 5) if checkpoints.save(at_step(state, s), {"data": {"epoch": 0, "index": s}})]
    assert saved == [0, 10, 20, 30, 40] and checkpoints.steps() == [30, 40]
    assert checkpoints.save(at_step(state, 43), force=True) and checkpoints.steps() == [40, 43]
    restored, meta = checkpoints.restore(state)
    assert int(restored.step) == 43
    assert_close(restored.params, at_step(state, 43).params)
    assert jax.dtypes.issubdtype(restored.key.dtype, jax.dtypes.prng_key)  # typed keys survive
    np.testing.assert_array_equal(jax.random.key_data(restored.key), jax.random.key_data(key))
    restored, meta = checkpoints.restore(state, step=40)
    assert int(restored.step) == 40 and meta["data"] == {"epoch": 0, "index": 40}
    with pytest.raises(train.CheckpointError, match=r"no checkpoint for step 7 .* available: \[40, 43\]"):
        checkpoints.restore(state, step=7)


def test_a_checkpoint_of_another_model_size_is_a_clear_error_not_corruption(tmp_path, key):
    train.Checkpointer(tmp_path, every=1).save(at_step(make_state(key), 1))
    bigger = make_state(key)._replace(params={"w": jnp.zeros((5, 2)), "b": jnp.arange(2.0)})
    with pytest.raises(train.CheckpointError, match="different parameter or state shapes"):
        train.Checkpointer(tmp_path, every=1).restore(bigger)
    assert (tmp_path / "1").is_dir() and not list(tmp_path.glob("corrupt-*"))  # nothing moved


def _corrupt(folder: pathlib.Path) -> None:
    for file in folder.rglob("*"):
        if file.is_file() and file.parent.name == "meta":
            file.write_text("{ not json")


def test_corrupt_latest_falls_back_to_previous_and_is_kept_aside(tmp_path, key):
    checkpoints = train.Checkpointer(tmp_path, every=1, keep=3)
    state = make_state(key)
    for s in (1, 2, 3):
        checkpoints.save(at_step(state, s), {"data": s})
    _corrupt(tmp_path / "3")
    with pytest.warns(RuntimeWarning, match=r"checkpoint .*/3 is unreadable .*moved it to .*corrupt-3"):
        restored, meta = train.Checkpointer(tmp_path, every=1, keep=3).restore(state)
    assert int(restored.step) == 2 and meta["data"] == 2
    assert (tmp_path / "corrupt-3").is_dir() and (tmp_path / "2").is_dir()


def test_silently_changed_bytes_fail_the_checksum(tmp_path, key):
    checkpoints = train.Checkpointer(tmp_path, every=1)
    state = make_state(key)
    checkpoints.save(at_step(state, 1))
    checkpoints.save(at_step(state, 2))
    meta_file = next(f for f in (tmp_path / "2").rglob("*") if f.is_file() and f.parent.name == "meta")
    meta = json.loads(meta_file.read_text())
    meta["checksum"] = "0" * 64  # as if the arrays had changed on disk
    meta_file.write_text(json.dumps(meta))
    with pytest.warns(RuntimeWarning, match="do not match the checksum"):
        restored, _ = train.Checkpointer(tmp_path, every=1).restore(state)
    assert int(restored.step) == 1


def test_a_changed_data_position_fails_the_checksum(tmp_path, key):
    checkpoints = train.Checkpointer(tmp_path, every=1)
    state = make_state(key)
    checkpoints.save(at_step(state, 1), {"data": {"epoch": 0, "index": 1}})
    checkpoints.save(at_step(state, 2), {"data": {"epoch": 0, "index": 2}})
    meta_file = next(f for f in (tmp_path / "2").rglob("*") if f.is_file() and f.parent.name == "meta")
    meta = json.loads(meta_file.read_text())
    meta["data"]["index"] = 7  # the arrays are intact; the data position is not
    meta_file.write_text(json.dumps(meta))
    with pytest.warns(RuntimeWarning, match="its meta .* does not match the checksum"):
        restored, saved = train.Checkpointer(tmp_path, every=1).restore(state)
    assert int(restored.step) == 1 and saved["data"] == {"epoch": 0, "index": 1}


def test_partial_folder_is_ignored_and_all_corrupt_is_an_error(tmp_path, key):
    checkpoints = train.Checkpointer(tmp_path, every=1)
    state = make_state(key)
    checkpoints.save(at_step(state, 1))
    (tmp_path / "2.orbax-checkpoint-tmp-1234").mkdir()  # what a kill during a save leaves behind
    (tmp_path / "2.orbax-checkpoint-tmp-1234" / "state").mkdir()
    assert int(train.Checkpointer(tmp_path, every=1).restore(state)[0].step) == 1
    _corrupt(tmp_path / "1")
    with pytest.warns(RuntimeWarning), pytest.raises(train.CheckpointError, match="no readable checkpoint"):
        train.Checkpointer(tmp_path, every=1).restore(state)


def test_run_dir_holds_config_vocab_metrics_and_curves(tmp_path):
    from seqjax.data import Vocab

    run = train.Run(tmp_path / "run", {"hidden": 8, "cell": "gru"})
    run.save_vocab(Vocab.build("abcab", level="char"))
    for step in (1, 2, 3):
        run.log(step, "train", {"loss": 3.0 - step, "finite": True})
    run.log(3, "eval", {"loss": 0.5})
    run.truncate_metrics(2)
    assert [m["step"] for m in run.metrics()] == [1, 2]
    assert json.loads((tmp_path / "run/config.json").read_text()) == {"hidden": 8, "cell": "gru"}
    assert Vocab.load(tmp_path / "run/vocab.json").tokens[-3:] == ("a", "b", "c")
    assert run.plot().stat().st_size > 1000


def test_a_metrics_line_cut_short_never_blocks_a_resume(tmp_path):
    run = train.Run(tmp_path / "run", tensorboard=False)
    for step in (1, 2, 3):
        run.log(step, "train", {"loss": float(step)})
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 4, "split": "tr')  # the disk filled, or the process died, while writing
    assert [m["step"] for m in run.metrics()] == [1, 2, 3]
    run.truncate_metrics(2)
    assert run.metrics_path.read_text().count("\n") == 2 and [m["step"] for m in run.metrics()] == [1, 2]
    run.metrics_path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(train.CheckpointError, match=r"metrics.jsonl, line 2: not a JSON metrics line"):
        run.metrics()


def test_a_run_directory_resumes_only_with_its_own_settings(tmp_path, key):
    state = train.TrainState.create({"w": jnp.ones(2)}, train.optimizer(0.1), key)
    run = train.Run(tmp_path / "run", {"learning_rate": 0.1, "cells": ("gru", "lstm")}, checkpoint_every=1, tensorboard=False)
    run.checkpoints.save(state._replace(step=jnp.int32(1)), {"data": {}})
    train.Run(tmp_path / "run", {"learning_rate": 0.1, "cells": ("gru", "lstm")})  # the same settings: a resume
    with pytest.raises(train.CheckpointError, match=r"other settings \(--learning_rate=0.1 there, 0.01 here\).*another --out_dir"):
        train.Run(tmp_path / "run", {"learning_rate": 0.01, "cells": ("gru", "lstm")})
    assert json.loads((tmp_path / "run" / "config.json").read_text())["learning_rate"] == 0.1  # untouched
    with pytest.raises(ValueError, match="run directory must be named"):
        train.Run("")
    train.Run(tmp_path / "fresh", {"learning_rate": 0.01})  # no checkpoints yet: any settings


def test_tensorboard_events_when_a_writer_is_installed(tmp_path, monkeypatch):
    import types

    written = []

    class SummaryWriter:  # stands in for tensorboardX's, which this environment does not install
        def __init__(self, logdir):
            written.append(("open", logdir))

        def add_scalar(self, tag, value, step):
            written.append((tag, value, step))

        def close(self):
            written.append(("close",))

    monkeypatch.setitem(sys.modules, "tensorboardX", types.SimpleNamespace(SummaryWriter=SummaryWriter))
    run = train.Run(tmp_path / "run")
    run.log(7, "eval", {"loss": 1.5, "finite": True})
    run.close()
    assert written == [("open", str(tmp_path / "run" / "tensorboard")), ("eval/loss", 1.5, 7), ("close",)]
    assert train.Run(tmp_path / "quiet", tensorboard=False)._tb is None


def test_without_a_tensorboard_writer_the_run_says_so(tmp_path, monkeypatch, capsys):
    import seqjax.train.run as run_module

    monkeypatch.setattr(run_module, "_tensorboard_writer", lambda directory: None)
    monkeypatch.setattr(train.Run, "_said_no_tensorboard", False)
    train.Run(tmp_path / "a")
    train.Run(tmp_path / "b")
    assert capsys.readouterr().err.count("no TensorBoard writer is installed (pip install tensorboardX)") == 1
    with pytest.raises(RuntimeError, match="pip install tensorboardX"):
        train.Run(tmp_path / "c", tensorboard=True)


# --- exact resume of a real process killed with SIGKILL ------------------------------------


def _text(tmp_path: pathlib.Path) -> pathlib.Path:
    rng = np.random.default_rng(0)
    words = ["thou", "art", "the", "king", "of", "my", "heart", "and", "soul", "o", "rome"]
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 9))).capitalize() + "." for _ in range(800)]
    path = tmp_path / "tinyshakespeare" / "input.txt"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    return tmp_path


def _command(data: pathlib.Path, out: pathlib.Path) -> list[str]:
    return [sys.executable, "-m", "experiments.char_lm", f"--data={data}", f"--out_dir={out}", "--steps=60",
            "--hidden=32", "--embed=16", "--batch=4", "--window=16", "--save_every=10", "--keep=2",
            "--log_every=5", "--eval_every=1000", "--eval_windows=2", "--sample_chars=20"]


def _final_checksum(out: pathlib.Path, step: int) -> str:
    meta = next(f for f in (out / "checkpoints" / str(step)).rglob("*") if f.is_file() and f.parent.name == "meta")
    return json.loads(meta.read_text())["checksum"]


@pytest.mark.slow
def test_sigkill_and_resume_is_bit_identical(tmp_path):
    data = _text(tmp_path)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags(1)}
    straight = subprocess.run(_command(data, tmp_path / "straight"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]

    out = tmp_path / "killed"
    for kill_after in (30,):  # a kill right after a checkpoint, while training goes on (tests/test_faults.py kills at random moments)
        process = subprocess.Popen(_command(data, out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        while not (out / "checkpoints" / str(kill_after)).is_dir() and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be killed; make it longer"
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
    resumed = subprocess.run(_command(data, out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout
    # the whole train state (params, Adam moments, step, key, carried LSTM state) is identical, bit for bit
    assert _final_checksum(out, 60) == _final_checksum(tmp_path / "straight", 60)
    steps = [m["step"] for m in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if m["split"] == "train"]
    assert steps == list(range(5, 65, 5))  # each step logged once, even across the kill

"""Gradient flow through time against two obvious oracles, and the experiment's smoke run."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from tests.conftest import assert_close


def test_linear_rnn_gradient_decays_as_a_power():
    """h_t = a h_{t-1} + x_t (identity activation, W_h = a I): ∂h_T/∂h_{T-k} = a^k I exactly."""
    a, d, t = 0.8, 3, 12
    cell = seqjax.Elman(d, d, activation="identity")
    params = {"wx": jnp.eye(d), "wh": a * jnp.eye(d), "b": jnp.zeros(d)}
    xs = jax.random.normal(jax.random.key(0), (2, t, d))
    v = jnp.array([1.0, -2.0, 0.5])  # E = sum_b v · h_T
    norms = seqjax.gradient_norms_through_time(cell, params, xs, lambda ys, s: jnp.sum(ys[:, -1] @ v))
    expected = a ** np.arange(1, t + 1) * np.linalg.norm(v)
    assert_close(norms, expected)


@pytest.mark.slow
def test_matches_jacobian_of_the_remaining_run():
    """∂E/∂s_{T-k} by brute force: E as a function of the state entering the last k steps."""
    cell = seqjax.LSTM(3, 5)
    params = cell.init(jax.random.key(1))
    xs = jax.random.normal(jax.random.key(2), (1, 7, 3))
    w = jax.random.normal(jax.random.key(3), (5,))

    def loss(ys, state):
        return jnp.sum(jnp.tanh(ys[:, -1]) @ w)

    norms = seqjax.gradient_norms_through_time(cell, params, xs, loss)
    states = [cell.initial_state(1)]
    for t in range(7):
        states.append(cell.step(params, states[-1], xs[:, t])[0])
    for k in range(1, 8):
        def rest(state):
            ys, final = seqjax.unroll(cell, params, xs[:, 7 - k:], initial_state=state)
            return loss(ys, final)

        g = jax.grad(rest)(states[7 - k])
        want = np.sqrt(sum(float(jnp.sum(leaf ** 2)) for leaf in jax.tree_util.tree_leaves(g)))
        np.testing.assert_allclose(norms[k - 1], want, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_vanishing_gradients_experiment_smoke(tmp_path):
    from experiments import vanishing_gradients as vg

    config = vg.Config(cells=("elman", "lstm"), seq_len=6, hidden=8, batch=16, train_steps=30, log_every=5, eval_batch=32,
                       out_dir=str(tmp_path))
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes int32 counts with floats
        results = vg.main(config)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "gradient_flow.png").stat().st_size > 10_000
    for name in ("elman", "lstm"):
        r = saved["cells"][name]
        assert len(r["norms_init"]) == 6 and np.all(np.isfinite(r["norms_trained"]))
        assert np.isfinite(r["loss_last"]) and r["loss_last"] < r["loss_first"]
    assert results["cells"].keys() == saved["cells"].keys()
    for name in ("elman", "lstm"):  # each cell trained in its own run directory
        assert {"config.json", "metrics.jsonl", "curves.png", "checkpoints"} <= {p.name for p in (tmp_path / name).iterdir()}


def test_experiment_cli_overrides_are_typed(capsys):
    from experiments import vanishing_gradients as vg
    from seqjax.train.config import parse_config

    config = parse_config(vg.Config(), ["--seq_len=12", "--cells=gru,lstm", "--learning_rate=0.5"])
    assert config.seq_len == 12 and config.cells == ("gru", "lstm") and config.learning_rate == 0.5
    with pytest.raises(SystemExit, match="--seq_len expects int"):
        parse_config(vg.Config(), ["--seq_len=twelve"])
    with pytest.raises(SystemExit, match="unknown option --sequence"):
        parse_config(vg.Config(), ["--sequence=3"])
    with pytest.raises(SystemExit) as exit_info:
        parse_config(vg.Config(), ["--help"])
    assert exit_info.value.code == 0 and "--train_steps=" in capsys.readouterr().out

"""Properties every cell and wrapper must have, checked with hypothesis over lengths and data:
padding invariance of gradients, batch-order invariance, jit equal to no jit, and one result per key;
and the numerical guard: clipping keeps a deliberately exploding Elman network's training finite."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqjax
from seqjax import train
from tests.cases import CELLS, D, params_for
from tests.conftest import assert_close

B, T = 3, 5
WRAPPERS = {
    "stack_dropout": seqjax.Stack((seqjax.GRU(D, 4), seqjax.LSTM(4, 4)), dropout=0.3),
    "bidirectional": seqjax.Bidirectional(seqjax.LSTM(D, 4)),
    "variational": seqjax.VariationalDropout(seqjax.GRU(D, 4), input_rate=0.2, recurrent_rate=0.2),
}
ALL = {**{name: cell for name, (cell, _) in CELLS.items()}, **WRAPPERS}
STOCHASTIC = ("stack_dropout", "variational")  # dropout masks drawn from the key


def _params(name, cell):
    return params_for(name, cell, jax.random.key(1)) if name in CELLS else cell.init(jax.random.key(1))


def _loss(cell, params, xs, lengths, key=None):
    ys, state = seqjax.unroll(cell, params, xs, lengths=lengths, key=key)
    return jnp.sum(ys ** 2) + sum(jnp.sum(s ** 2) for s in jax.tree_util.tree_leaves(state) if jnp.issubdtype(s.dtype, jnp.floating))


def _inputs(seed, lengths):
    xs = np.random.default_rng(seed).normal(size=(B, T, D)).astype(np.float32)
    return jnp.asarray(xs), jnp.asarray(lengths, jnp.int32)


@pytest.mark.parametrize("name", sorted(ALL))
@settings(max_examples=2, deadline=None)  # 2 draws a run (each run draws anew): the suite's time
@given(seed=st.integers(0, 2**16), lengths=st.lists(st.integers(0, T), min_size=B, max_size=B), perm=st.permutations(range(B)))
@pytest.mark.slow
def test_padding_batch_order_jit_and_keys(name, seed, lengths, perm):
    cell = ALL[name]
    params = _params(name, cell)
    xs, lengths = _inputs(seed, lengths)
    key = jax.random.key(seed) if name in STOCHASTIC else None
    valid = (jnp.arange(T)[None, :] < lengths[:, None])[..., None]
    grad = jax.grad(_loss, argnums=(1, 2))
    g_params, g_xs = grad(cell, params, xs, lengths, key)
    # padding: other content (even NaN) there changes neither the gradients nor, at valid steps, the input gradients
    g_params2, g_xs2 = grad(cell, params, jnp.where(valid, xs, jnp.nan), lengths, key)
    assert_close(g_params2, g_params)
    assert_close(jnp.where(valid, g_xs2, 0.0), jnp.where(valid, g_xs, 0.0))
    if key is None:  # batch order: row i of a permuted batch is row perm[i] of the original (dropout masks follow the row index)
        order = jnp.asarray(perm)
        ys, state = seqjax.unroll(cell, params, xs, lengths=lengths)
        ys_p, state_p = seqjax.unroll(cell, params, xs[order], lengths=lengths[order])
        assert_close((ys_p, state_p), jax.tree_util.tree_map(lambda a: a[order], (ys, state)))
    # jit and no jit agree; a fixed key gives one result, another key another (for stochastic wrappers)
    eager = _loss(cell, params, xs, lengths, key)
    jitted = jax.jit(_loss, static_argnums=0)(cell, params, xs, lengths, key)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-5, atol=1e-5)
    assert float(_loss(cell, params, xs, lengths, key)) == float(eager)
    if key is not None and int(jnp.sum(lengths)) > 0:  # with few valid steps two keys may draw one mask: try several
        assert any(float(_loss(cell, params, xs, lengths, jax.random.key(seed + i))) != float(eager) for i in range(1, 9))


@pytest.mark.slow
def test_clipping_keeps_an_exploding_elman_network_finite():
    cell = seqjax.Elman(4, 16, activation="identity")
    w = np.linalg.qr(np.random.default_rng(0).normal(size=(16, 16)))[0]
    params = {"cell": {**cell.init(jax.random.key(0)), "wh": jnp.asarray(1.3 * w, jnp.float32)},  # spectral radius 1.3
              "out": jnp.full((16, 1), 0.1)}
    xs = jnp.asarray(np.random.default_rng(1).normal(size=(8, 40, 4)), jnp.float32)

    def loss_fn(params, batch, key):
        ys, _ = seqjax.unroll(cell, params["cell"], batch)
        return jnp.mean((ys[:, -1] @ params["out"]) ** 2), {}

    assert float(optax_norm(jax.grad(lambda p: loss_fn(p, xs, None)[0])(params))) > 1e6  # the gradient explodes
    with jax.numpy_dtype_promotion("standard"):
        for clip_norm in (None, 1.0):
            opt = train.optimizer(0.1, name="sgd", clip_norm=clip_norm)
            state = train.TrainState.create(params, opt, jax.random.key(1))
            step = train.make_train_step(loss_fn, opt)
            for _ in range(3):
                state, metrics = step(state, xs)
            assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree_util.tree_leaves(state.params))  # never a non-finite update
            moved = float(optax_norm(jax.tree_util.tree_map(lambda a, b: a - b, state.params, params)))
            if clip_norm is None:
                assert int(state.step) < 3 or moved > 1e3  # unclipped: the next update is refused, or it is huge
            else:  # clipped: every step applied, each at most rate × clip_norm times SGD's momentum sum
                assert int(state.step) == 3 and 0 < moved <= 0.1 * (1 + 1.9 + 2.71) and bool(metrics["finite"])


def optax_norm(tree):
    import optax

    return optax.tree.norm(tree)

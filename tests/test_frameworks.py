"""seqjax cells inside Flax NNX and Equinox models: the wrappers' outputs and gradients are seqjax's own."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import seqjax
from tests.conftest import assert_close

CELL = seqjax.Bidirectional(seqjax.LSTM(3, 4))
XS = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 3)), jnp.float32)
LENGTHS = jnp.array([5, 2])


def reference_loss(params):
    ys, _ = seqjax.unroll(CELL, params, XS, lengths=LENGTHS)
    return jnp.sum(ys ** 2)


@pytest.mark.slow
def test_flax_nnx_module():
    nnx = pytest.importorskip("flax.nnx")
    from seqjax.interop.nnx import Recurrent

    model = Recurrent(CELL, rngs=nnx.Rngs(0))
    params = model.params
    assert_close(model(XS, lengths=LENGTHS), seqjax.unroll(CELL, params, XS, lengths=LENGTHS))
    grads = nnx.grad(lambda m: jnp.sum(m(XS, lengths=LENGTHS)[0] ** 2))(model)
    got = jax.tree_util.tree_leaves(grads["weights"])  # nnx.State of the Param tree, leaves in the params' order
    assert_close(got, jax.tree_util.tree_leaves(jax.grad(reference_loss)(params)))
    with jax.numpy_dtype_promotion("standard"):
        optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
        optimizer.update(model, grads)
    assert float(reference_loss(model.params)) < float(reference_loss(params))
    graph, state = nnx.split(model)
    assert_close(nnx.merge(graph, state).params, model.params)
    lstm = Recurrent(seqjax.LSTM(3, 4), rngs=nnx.Rngs(1))
    state, y = lstm.step(lstm.cell.initial_state(2), XS[:, 0])
    assert_close(y, seqjax.unroll(lstm.cell, lstm.params, XS[:, :1])[0][:, 0])


@pytest.mark.slow
def test_equinox_module():
    eqx = pytest.importorskip("equinox")
    from seqjax.interop.equinox import Recurrent

    model = Recurrent(CELL, key=jax.random.key(0))
    assert_close(model(XS, lengths=LENGTHS), seqjax.unroll(CELL, model.params, XS, lengths=LENGTHS))
    grads = eqx.filter_grad(lambda m: jnp.sum(m(XS, lengths=LENGTHS)[0] ** 2))(model)
    assert_close(grads.params, jax.grad(reference_loss)(model.params))
    with jax.numpy_dtype_promotion("standard"):
        optimizer = optax.sgd(0.1)
        updates, _ = optimizer.update(grads, optimizer.init(eqx.filter(model, eqx.is_array)))
    trained = eqx.apply_updates(model, updates)
    assert float(reference_loss(trained.params)) < float(reference_loss(model.params))
    assert_close(eqx.filter_jit(lambda m: m(XS, lengths=LENGTHS))(model), model(XS, lengths=LENGTHS))
    with pytest.raises(ValueError, match="key= .* or params="):
        Recurrent(CELL)

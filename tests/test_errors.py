"""Bad input gets a clear error that names the argument and what was expected, also under jit."""

import jax
import jax.numpy as jnp
import pytest

import seqjax

CELL = seqjax.LSTM(3, 4)
PARAMS = CELL.init(jax.random.key(0))
XS = jnp.ones((2, 5, 3))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("xs,error,message", [
    (jnp.ones((2, 5, 4)), ValueError, r"xs must have shape \[batch, time, 3\] .* got shape \(2, 5, 4\)"),
    (jnp.ones((5,)), ValueError, r"xs must have shape .* got shape \(5,\)"),
    (jnp.ones((1, 2, 5, 3)), ValueError, r"xs must have shape"),
    (jnp.ones((2, 5, 3), jnp.int32), TypeError, r"xs must be a float array .* int32"),
    (jnp.ones((2, 5, 3), bool), TypeError, r"xs must be a float array"),
])
def test_bad_xs(xs, error, message, jit):
    f = jax.jit(lambda xs: seqjax.unroll(CELL, PARAMS, xs)) if jit else (lambda xs: seqjax.unroll(CELL, PARAMS, xs))
    with pytest.raises(error, match=message):
        f(xs)


@pytest.mark.parametrize("lengths,error,message", [
    (jnp.array([5, 6]), ValueError, r"lengths must lie in \[0, 5\] .* \[5, 6\]"),
    (jnp.array([-1, 2]), ValueError, r"lengths must lie in \[0, 5\]"),
    (jnp.array([5, 2, 1]), ValueError, r"lengths must have shape \[2\] \(one length per sequence\), got shape \(3,\)"),
    (jnp.array([[5, 2]]), ValueError, r"lengths must have shape \[2\]"),
    (jnp.array([5.0, 2.0]), TypeError, r"lengths must be an integer array, got dtype float32"),
])
def test_bad_lengths(lengths, error, message):
    with pytest.raises(error, match=message):
        seqjax.unroll(CELL, PARAMS, XS, lengths=lengths)


def test_bad_lengths_under_jit_shape_and_dtype():
    f = jax.jit(lambda lengths: seqjax.unroll(CELL, PARAMS, XS, lengths=lengths))
    with pytest.raises(ValueError, match=r"lengths must have shape \[2\]"):
        f(jnp.array([1, 2, 3]))
    with pytest.raises(TypeError, match="integer"):
        f(jnp.array([1.0, 2.0]))


def test_unbatched_lengths_must_be_scalar():
    with pytest.raises(ValueError, match="a scalar"):
        seqjax.unroll(CELL, PARAMS, XS[0], lengths=jnp.array([3]))


def test_params_from_a_different_cell_size():
    other = seqjax.LSTM(3, 8).init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"params\['b'\] has shape \(32,\), but LSTM\(input_size=3, hidden_size=4\) expects \(16,\)"):
        seqjax.unroll(CELL, other, XS)
    with pytest.raises(ValueError, match="params do not match LSTM"):
        seqjax.unroll(CELL, seqjax.GRU(3, 4, reset_after=True).init(jax.random.key(0)), XS)
    with pytest.raises(ValueError, match="params do not match"):
        jax.jit(lambda p: seqjax.unroll(CELL, p, XS))({"wx": PARAMS["wx"]})


def test_bad_initial_state():
    with pytest.raises(ValueError, match=r"initial_state must match LSTM.initial_state\(2\)"):
        seqjax.unroll(CELL, PARAMS, XS, initial_state=CELL.initial_state(3))
    with pytest.raises(ValueError, match="initial_state must match"):
        seqjax.unroll(CELL, PARAMS, XS, initial_state=seqjax.RNNState(jnp.zeros((2, 4))))


def test_not_a_cell():
    with pytest.raises(TypeError, match="cell must be a seqjax cell"):
        seqjax.unroll(lambda s, x: (s, x), PARAMS, XS)


@pytest.mark.parametrize("make,message", [
    (lambda: seqjax.LSTM(0, 4), r"LSTM.input_size must be a positive int, got 0"),
    (lambda: seqjax.GRU(3, 2.5), r"GRU.hidden_size must be a positive int"),
    (lambda: seqjax.Elman(3, 4, activation="tanhh"), r"unknown activation 'tanhh'; expected one of"),
    (lambda: seqjax.MinGRU(3, 4, mode="fast"), r"MinGRU.mode must be one of"),
    (lambda: seqjax.VariationalDropout(CELL, input_rate=1.0), r"input_rate must be a float in \[0, 1\)"),
    (lambda: seqjax.VariationalDropout(seqjax.Stack((CELL,)), recurrent_rate=0.5), r"recurrent_rate needs a cell whose state's first field is its fed-back output h; Stack's is not"),
    (lambda: seqjax.Stack((seqjax.LSTM(3, 4), seqjax.LSTM(5, 4))), r"Stack.layers\[1\].input_size is 5, but layer 0 outputs 4"),
    (lambda: seqjax.Stack(()), "non-empty"),
    (lambda: seqjax.Bidirectional(CELL, merge="mean"), "merge must be 'concat' or 'sum'"),
    (lambda: seqjax.Hopfield(4, gain=0.0), "Hopfield.gain must be a finite number > 0, got 0.0"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bidirectional_has_no_step():
    cell = seqjax.Bidirectional(CELL)
    with pytest.raises(TypeError, match="whole sequence"):
        cell.step(cell.init(jax.random.key(0)), cell.initial_state(2), XS[:, 0])

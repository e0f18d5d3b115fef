"""Every cell against its NumPy oracle: values, gradients, dtypes, batch/no batch, jit/vmap/grad."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import seqjax
from tests import reference as ref
from tests.cases import CELLS, PARAM_SHAPES, D, H, params_for
from tests.conftest import assert_close


def oracle(name, params, xs, lengths=None):
    """Runs the NumPy reference example by example: ys [b, t, o] and final state leaves [b, ...]."""
    cell, step = CELLS[name]
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    state0 = cell.initial_state(None)
    ys, finals = [], []
    for b in range(xs.shape[0]):
        y, s = ref.run(step, params, xs[b], tuple(state0), None if lengths is None else int(lengths[b]), cell.output_dim)
        ys.append(y)
        finals.append(s)
    return np.stack(ys), tuple(np.stack(leaf) for leaf in zip(*finals))


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("t", [1, 6])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cell_matches_numpy_loop(name, t, dtype, key):
    cell, _ = CELLS[name]
    params = params_for(name, cell, key)
    xs = jax.random.normal(jax.random.fold_in(key, 2), (3, t, D))
    ys, state = jax.jit(seqjax.unroll, static_argnums=0)(cell, params, xs.astype(dtype))
    assert ys.dtype == jnp.dtype(dtype) and ys.shape == (3, t, cell.output_dim)
    want_ys, want_state = oracle(name, params, np.asarray(xs.astype(dtype), np.float64))
    assert_close(ys, want_ys, dtype)
    assert_close(tuple(state), want_state, dtype)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_unbatched_equals_batch_of_one(name, key):
    cell, _ = CELLS[name]
    params = params_for(name, cell, key)
    xs = jax.random.normal(key, (5, D))
    ys, state = seqjax.unroll(cell, params, xs, lengths=jnp.array(3))
    ys1, state1 = seqjax.unroll(cell, params, xs[None], lengths=jnp.array([3]))
    assert ys.shape == (5, cell.output_dim)
    assert_close(ys, ys1[0])
    assert_close(state, jax.tree_util.tree_map(lambda s: s[0], state1))
    # the single step also works without a batch axis
    s, y = cell.step(params, cell.initial_state(), xs[0])
    assert_close(y, ys[0])


@pytest.mark.parametrize("name", sorted(CELLS))
def test_lengths_match_numpy_loop(name, key):
    cell, _ = CELLS[name]
    params = params_for(name, cell, key)
    xs = jax.random.normal(key, (4, 7, D))
    lengths = jnp.array([7, 3, 0, 1])
    ys, state = seqjax.unroll(cell, params, xs, lengths=lengths)
    want_ys, want_state = oracle(name, params, np.asarray(xs, np.float64), lengths)
    assert_close(ys, want_ys)
    assert_close(tuple(state), want_state)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_loop_unroll_equals_unroll(name, key):
    cell, _ = CELLS[name]
    params = params_for(name, cell, key)
    xs = jax.random.normal(key, (2, 6, D))
    for kwargs in ({}, {"lengths": jnp.array([6, 2])}, {"reverse": True, "lengths": jnp.array([4, 6])}):
        want = seqjax.loop_unroll(cell, params, xs, **kwargs)
        for hoist in (True, False):  # the fast path (projections before the scan) and the plain step path
            assert_close(seqjax.unroll(cell, params, xs, options=seqjax.ScanOptions(hoist=hoist, unroll=2), **kwargs), want)


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.slow
def test_gradients_check_grads(name, key):
    """Reverse- and forward-mode derivatives of unroll against finite differences, in float64."""
    cell, _ = CELLS[name]
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params_for(name, cell, key))
        xs = jax.random.normal(key, (2, 5, D), jnp.float64)
        lengths = jnp.array([5, 3])

        def f(params, xs, fused=True):
            ys, state = seqjax.unroll(cell, params, xs, lengths=lengths, options=seqjax.ScanOptions(fused=fused))
            return ys, state

        check_grads(f, (params, xs), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)
        # forward mode cannot go through the hand-written VJPs of seqjax.kernels.fused: it needs fused=False
        check_grads(lambda p, x: f(p, x, fused=False), (params, xs), order=1, modes=("fwd",), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradient_matches_numpy_finite_difference(name, key):
    """jax.grad of a scalar loss against central differences of the NumPy oracle (independent code)."""
    cell, _ = CELLS[name]
    params = params_for(name, cell, key)
    xs = np.asarray(jax.random.normal(key, (2, 4, D)), np.float64)

    grads = jax.grad(lambda p: jnp.sum(seqjax.unroll(cell, p, jnp.asarray(xs, jnp.float32))[0] ** 2))(params)
    leaf = sorted(params)[0]
    flat = np.asarray(params[leaf], np.float64).ravel()
    for index in (0, flat.size // 2, flat.size - 1):
        def loss(value):
            p = {k: np.asarray(v, np.float64) for k, v in params.items()}
            changed = flat.copy()
            changed[index] = value
            p[leaf] = changed.reshape(p[leaf].shape)
            return np.sum(oracle(name, p, xs)[0] ** 2)

        eps = 1e-6
        numeric = (loss(flat[index] + eps) - loss(flat[index] - eps)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(grads[leaf]).ravel()[index], numeric, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_param_tree_is_pinned(name, key):
    cell, _ = CELLS[name]
    params = cell.init(key)
    assert jax.tree_util.tree_map(jnp.shape, params) == PARAM_SHAPES[name]
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(params))
    assert hash(cell) == hash(type(cell)(**{f: getattr(cell, f) for f in cell.__dataclass_fields__}))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_jit_vmap_grad(name, key):
    cell, _ = CELLS[name]
    params = params_for(name, cell, key)
    xs = jax.random.normal(key, (3, 4, D))
    # vmap over the batch of unbatched sequences equals the batched call
    vmapped = jax.vmap(lambda x: seqjax.unroll(cell, params, x)[0])(xs)
    assert_close(vmapped, seqjax.unroll(cell, params, xs)[0])
    # jit of grad is finite and has the params' structure
    grads = jax.jit(jax.grad(lambda p: jnp.mean(seqjax.unroll(cell, p, xs)[0] ** 2)))(params)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))


def test_elman_is_the_lectures_basic_rnn(key):
    """h_t = tanh(W_A (x_t ⊕ h_{t-1}) + b_A): W_A is [wx; wh] transposed, stacked along the input axis."""
    cell = seqjax.Elman(D, H)
    params = cell.init(key)
    w_a = np.asarray(jnp.concatenate([params["wx"], params["wh"]], axis=0)).T  # [h, d + h]
    xs = np.asarray(jax.random.normal(key, (6, D)), np.float64)
    h = np.zeros(H)
    want = []
    for x in xs:
        h = ref.basic_rnn_step(w_a, np.asarray(params["b"]), h, x)
        want.append(h)
    assert_close(seqjax.unroll(cell, params, jnp.asarray(xs, jnp.float32))[0], np.stack(want))


@pytest.mark.slow  # ~6 s on 2 cores
def test_mixed_precision_bfloat16_compute_float32_params(key):
    cell = seqjax.LSTM(D, H)
    params = cell.init(key)
    xs = jax.random.normal(key, (2, 5, D))
    ys, _ = seqjax.unroll(cell, params, xs.astype(jnp.bfloat16))
    assert ys.dtype == jnp.bfloat16
    grads = jax.grad(lambda p: jnp.sum(seqjax.unroll(cell, p, xs.astype(jnp.bfloat16))[0].astype(jnp.float32)))(params)
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads))
    assert_close(ys, seqjax.unroll(cell, params, xs)[0], "bfloat16")


def test_forget_bias_is_added_at_init(key):
    with_bias = seqjax.LSTM(D, H, forget_bias=1.0).init(key)["b"]
    without = seqjax.LSTM(D, H, forget_bias=0.0).init(key)["b"]
    np.testing.assert_allclose(with_bias - without, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)], atol=1e-6)


@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5), (2, 0, 5)])
def test_dense_is_matmul_over_leading_axes(shape, key):
    x = np.asarray(jax.random.normal(key, shape), np.float64)
    w = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (5, 4)), np.float64)
    b = np.arange(4.0)
    assert_close(seqjax.dense(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)), x @ w + b)
    assert seqjax.dense(jnp.ones(shape), jnp.ones((5, 4))).shape == shape[:-1] + (4,)
    check_grads(lambda x, w: seqjax.dense(x, w, jnp.asarray(b)), (jnp.asarray(x), jnp.asarray(w)), order=1, modes=["rev"])


def _slices_of(jaxpr, shape, inside_scan=False):
    """Slice ops on an operand of ``shape``, each flagged with whether it sits inside a loop's body (scan or while)."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "slice" and tuple(eqn.invars[0].aval.shape) == shape:
            found.append(inside_scan)
        for sub in eqn.params.values():
            inner = getattr(sub, "jaxpr", sub)
            if hasattr(inner, "eqns"):
                found += _slices_of(inner, shape, inside_scan or eqn.primitive.name in ("scan", "while"))
    return found


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("cell", [seqjax.GRU(3, 5), seqjax.PrototypeLSTM(3, 5)], ids=["gru_reset_before", "prototype_lstm"])
def test_weight_slices_are_taken_once_outside_the_loop(cell, fused):
    # XLA does not hoist a weight slice out of a scan body: it would copy W_h's blocks every step.
    # The gradient's jaxpr holds the forward and the backward loops (fused: the hand-written ones).
    params = cell.init(jax.random.key(0))
    loss = lambda p, xs: jnp.sum(seqjax.unroll(cell, p, xs, options=seqjax.ScanOptions(fused=fused))[0])  # noqa: E731
    jaxpr = jax.make_jaxpr(jax.grad(loss))(params, jnp.ones((2, 4, 3))).jaxpr
    found = _slices_of(jaxpr, params["wh"].shape) + _slices_of(jaxpr, params["wh"].T.shape)
    assert found and not any(found)  # W_h is sliced, and only before the loops
    # a Stack (here with a dropout layer) stepped in a loop of one's own, as a sampler does:
    # its stepper prepares its layers' weights (no autodiff here to move loop-invariant slices out)
    stack = seqjax.Stack((seqjax.VariationalDropout(cell, recurrent_rate=0.5), type(cell)(5, 5)))
    stack_params = stack.init(jax.random.key(1))

    def sample(p, xs):
        return jax.lax.scan(stack.stepper(p), stack.initial_state(2, key=jax.random.key(2)), xs)[1]

    jaxpr = jax.make_jaxpr(sample)(stack_params, jnp.ones((4, 2, 3))).jaxpr
    found = [inside for p in stack_params for shape in (p["wh"].shape, p["wh"].T.shape) for inside in _slices_of(jaxpr, shape)]
    assert found and not any(found)
    # a lone step slices by itself and agrees with the loop's pre-sliced blocks
    state, x = jax.tree.map(lambda s: s + 0.3, cell.initial_state(2)), jnp.ones((2, 3))
    xp = cell.project(params, x)
    assert_close(cell.recur(cell.prepare_loop(params), state, xp)[1], cell.recur(params, state, xp)[1])


def test_every_cell_implements_the_recurrent_cell_interface():
    from seqjax.cells.protocol import Cell, RecurrentCell
    from seqjax.models import Seq2Seq

    gru = seqjax.GRU(3, 4)
    cells = [seqjax.Elman(3, 4), seqjax.Jordan(3, 4, 2), seqjax.Hopfield(4), gru, seqjax.LSTM(3, 4), seqjax.PeepholeLSTM(3, 4),
             seqjax.PrototypeLSTM(3, 4), seqjax.MinGRU(3, 4), seqjax.MinLSTM(3, 4), seqjax.Stack((gru,)), seqjax.Bidirectional(gru),
             seqjax.VariationalDropout(gru), Seq2Seq.recurrent(5, 5, embed_size=3, hidden_size=4).decoder]
    kinds, pending = set(), [Cell]
    while pending:  # every public subclass of Cell in the library
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            kinds |= {sub} if not sub.__name__.startswith("_") else set()
    assert kinds == {type(c) for c in cells}, kinds ^ {type(c) for c in cells}
    for cell in cells:
        assert isinstance(cell, RecurrentCell), type(cell).__name__
    assert not isinstance(seqjax.dense, RecurrentCell)


@pytest.mark.slow  # ~7 s on 2 cores
def test_final_output_is_what_each_cell_says_summarises_a_sequence():
    xs, lengths = jax.random.normal(jax.random.key(3), (2, 5, 3)), jnp.array([5, 2])
    gru = seqjax.GRU(3, 4)
    for cell in (gru, seqjax.Stack((gru, seqjax.LSTM(4, 6))), seqjax.Bidirectional(gru), seqjax.VariationalDropout(gru)):
        params = cell.init(jax.random.key(0))
        ys, state = seqjax.unroll(cell, params, xs, lengths=lengths)
        if isinstance(cell, seqjax.Bidirectional):  # forward's last valid step, backward's first step
            want = jnp.concatenate([ys[jnp.arange(2), lengths - 1, :4], ys[:, 0, 4:]], -1)
        else:
            want = ys[jnp.arange(2), lengths - 1]
        assert_close(cell.final_output(state), want)

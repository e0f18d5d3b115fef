"""The hand-written backward passes (``seqjax.kernels.fused``, ``seqjax.kernels.fused_linear``) against autodiff
of the readable step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import seqjax
from tests.conftest import assert_close

FUSED = {"lstm": lambda d, h: seqjax.LSTM(d, h), "gru": lambda d, h: seqjax.GRU(d, h, reset_after=True),
         "gru_reset_before": lambda d, h: seqjax.GRU(d, h),
         "min_gru": lambda d, h: seqjax.MinGRU(d, h, mode="sequential"),
         "min_lstm": lambda d, h: seqjax.MinLSTM(d, h, mode="sequential")}


def loss(cell, fused, hoist, lengths, dtype=jnp.float32):
    def f(params, xs, state):
        ys, final = seqjax.unroll(cell, params, xs.astype(dtype), lengths=lengths, initial_state=state, options=seqjax.ScanOptions(fused=fused, hoist=hoist))
        out = jnp.float64 if dtype == jnp.float64 else jnp.float32  # accumulate bfloat16 results in float32
        weights = jnp.linspace(-1.0, 1.0, ys.shape[-1], dtype=out)
        return jnp.sum(ys.astype(out) ** 2 * weights) + sum(jnp.sum(jnp.sin(s.astype(out))) for s in jax.tree_util.tree_leaves(final))
    return f


def setup(name, key, b=3, t=7, d=4, h=5):
    cell = FUSED[name](d, h)
    k1, k2, k3 = jax.random.split(key, 3)
    params = cell.init(k1)
    xs = jax.random.normal(k2, (b, t, d))
    state = jax.tree_util.tree_map(lambda s: 0.5 * jax.random.normal(k3, s.shape), cell.initial_state(b))
    return cell, params, xs, state


# hoisting is an option of the LSTM/GRU loops only; the linear recurrences always project per chunk
HOIST_CASES = [(name, hoist) for name in sorted(FUSED) for hoist in (False, True) if not (name.startswith("min_") and hoist)]


@pytest.mark.parametrize("name,hoist", HOIST_CASES)
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.slow
def test_fused_gradients_equal_autodiff_of_the_readable_step(name, hoist, with_lengths, key):
    cell, params, xs, state = setup(name, key)
    lengths = jnp.array([7, 3, 0]) if with_lengths else None
    args = (params, xs, state)
    fused_value, fused_grads = jax.value_and_grad(loss(cell, True, hoist, lengths), argnums=(0, 1, 2))(*args)
    plain_value, plain_grads = jax.value_and_grad(loss(cell, False, hoist, lengths), argnums=(0, 1, 2))(*args)
    assert_close(fused_value, plain_value)
    assert_close(fused_grads, plain_grads)
    if with_lengths:  # nothing flows into padding: the gradient at padded inputs is exactly zero
        assert float(jnp.max(jnp.abs(fused_grads[1][1, 3:]))) == 0.0 and float(jnp.max(jnp.abs(fused_grads[1][2]))) == 0.0


@pytest.mark.parametrize("name", sorted(FUSED))
@pytest.mark.slow
def test_fused_check_grads_float64(name, key):
    with jax.enable_x64(True):
        cell, params, xs, state = setup(name, key, b=2, t=4, d=3, h=3)
        params, xs, state = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), (params, xs, state))
        f = loss(cell, True, False, jnp.array([4, 2]), jnp.float64)
        check_grads(f, (params, xs, state), order=1, modes=("rev",), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(FUSED))
@pytest.mark.slow
def test_fused_float64_gradients_are_float64_exact(name, key):
    """In float64 the hand-written backward passes accumulate in float64: they equal autodiff to
    float64 rounding, not float32's (and cuBLAS has no float64 x float64 -> float32 product)."""
    with jax.enable_x64(True):
        cell, params, xs, state = setup(name, key, b=3, t=300, d=4, h=5)
        args = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), (params, xs, state))
        lengths = jnp.array([300, 120, 0])
        fused, plain = (jax.grad(loss(cell, f, None, lengths, jnp.float64), argnums=(0, 1, 2))(*args) for f in (True, False))
        assert all(g.dtype == jnp.float64 for g in jax.tree_util.tree_leaves(fused))
        assert_close(fused, plain, "float64")


@pytest.mark.parametrize("name", sorted(FUSED))
@pytest.mark.slow
def test_fused_in_a_deep_bidirectional_stack_and_bfloat16(name, key):
    layer = FUSED[name]
    cell = seqjax.Stack((seqjax.Bidirectional(layer(4, 5)), layer(10, 5)))
    params = cell.init(key)
    xs = jax.random.normal(key, (3, 6, 4))
    lengths = jnp.array([6, 1, 4])
    grads = [jax.grad(lambda p: loss(cell, fused, None, lengths)(p, xs, None))(params) for fused in (True, False)]
    assert_close(grads[0], grads[1])
    grads16 = [jax.grad(lambda p: loss(cell, fused, None, lengths, jnp.bfloat16)(p, xs, None))(params) for fused in (True, False)]
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads16[0]))
    assert_close(grads16[0], grads16[1], "bfloat16")


@pytest.mark.parametrize("name", ["min_gru", "min_lstm"])
@pytest.mark.slow
def test_fused_linear_over_many_chunks(name, key):
    """t = 1000 at b = 3 is six chunks of 170 steps, the last one padded; lengths end in
    different chunks, one sequence is empty."""
    from seqjax.kernels.fused_linear import chunk_length

    cell, params, xs, state = setup(name, key, b=3, t=1000, d=4, h=5)
    assert chunk_length(1000, 3) < 1000 and 1000 % chunk_length(1000, 3)
    lengths = jnp.array([1000, 300, 0])
    fused = jax.value_and_grad(loss(cell, True, None, lengths), argnums=(0, 1, 2))(params, xs, state)
    plain = jax.value_and_grad(loss(cell, False, None, lengths), argnums=(0, 1, 2))(params, xs, state)
    assert_close(fused, plain)
    ys, final = seqjax.unroll(cell, params, xs, lengths=lengths, initial_state=state)
    assert float(jnp.max(jnp.abs(ys[1, 300:]))) == 0.0
    assert_close(final.h[2], state.h[2])  # an empty sequence keeps its initial state


@pytest.mark.slow
def test_min_cells_auto_mode_is_sequential_on_cpu_and_equals_associative(key):
    cell = seqjax.MinGRU(4, 5)
    assert cell.mode == "auto" and cell.algorithm == ("sequential" if jax.default_backend() == "cpu" else "associative")
    params = cell.init(key)
    xs = jax.random.normal(key, (2, 9, 4))
    assert_close(seqjax.unroll(cell, params, xs), seqjax.unroll(seqjax.MinGRU(4, 5, mode="associative"), params, xs))


def _num_carry(scan):
    """A scan's carried outputs come first; the rest are stacked per step (a leading ``length`` axis),
    so the first output shaped unlike the body's is the first stacked one. JAX 0.10 also names the
    count ``num_carry`` (checked against it); JAX 0.11 has no such parameter."""
    inner = [v.aval.shape for v in scan.params["jaxpr"].jaxpr.outvars]
    count = next((i for i, (v, shape) in enumerate(zip(scan.outvars, inner)) if v.aval.shape != shape), len(inner))
    assert scan.params.get("num_carry", count) == count
    return count


def _scan_outputs_built_by_concatenation(jaxpr):
    """For every scan in ``jaxpr`` (nested ones too): whether any of its per-step outputs depends,
    within one step, on a ``concatenate``."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            body = eqn.params["jaxpr"].jaxpr
            producer = {v: e for e in body.eqns for v in e.outvars}
            stack, seen, hit = list(body.outvars[_num_carry(eqn):]), set(), False
            while stack:
                e = producer.get(stack.pop())
                if e is not None and id(e) not in seen:
                    seen.add(id(e))
                    hit |= e.primitive.name == "concatenate"
                    stack += [v for v in e.invars if hasattr(v, "aval") and not hasattr(v, "val")]
            found.append(hit)
        for sub in eqn.params.values():
            inner = getattr(sub, "jaxpr", sub)
            if hasattr(inner, "eqns"):
                found += _scan_outputs_built_by_concatenation(inner)
    return found


@pytest.mark.parametrize("name", ["gru", "gru_reset_before"])
def test_fused_gru_loops_write_no_per_step_concatenation(name, key):
    # XLA's CPU code for a concatenation written into a loop's stacked output was scalar (27 of
    # 200 ms of a training step): the backward loop emits each gate's gradient on its own.
    cell, params, xs, state = setup(name, key)
    jaxpr = jax.make_jaxpr(jax.grad(loss(cell, True, False, jnp.array([7, 3, 0]))))(params, xs, state).jaxpr
    found = _scan_outputs_built_by_concatenation(jaxpr)
    assert len(found) >= 2 and not any(found)  # the forward and the hand-written backward loop


def test_one_option_type_chooses_the_path_and_the_old_keywords_still_work():
    from seqjax.kernels.options import ScanOptions, path

    # the one decision: cuDNN where asked and possible, then a fused kernel unless remat needs autodiff
    assert path(ScanOptions(), fused=True) == "fused" and path(ScanOptions(), fused=False) == "autodiff"
    assert path(ScanOptions(remat=True), fused=True) == "autodiff"
    assert path(ScanOptions(remat=True), fused=True, fused_saves_memory=True) == "fused"
    assert path(ScanOptions(fused=False), fused=True, cudnn=False) == "autodiff"
    assert path(ScanOptions(cudnn=True), fused=True, cudnn=True) == "cudnn"
    assert path(ScanOptions(cudnn=True), fused=True, cudnn=False) == "fused"
    assert ScanOptions().resolved().hoist is (jax.default_backend() != "cpu") and ScanOptions(hoist=True).resolved().hoist
    for bad, message in ((dict(unroll=0), "unroll must be an int >= 1"), (dict(fused="yes"), "fused must be True or False"),
                         (dict(hoist=1), "hoist must be True, False or None")):
        with pytest.raises(ValueError, match=message):
            ScanOptions(**bad)
    cell = seqjax.LSTM(3, 4)
    params, xs = cell.init(jax.random.key(0)), jax.random.normal(jax.random.key(1), (2, 5, 3))
    want = seqjax.unroll(cell, params, xs, options=ScanOptions(fused=False, unroll=2))[0]
    with pytest.warns(DeprecationWarning, match=r"pass options=seqjax.ScanOptions\(fused=..., unroll=...\)"):
        got = seqjax.unroll(cell, params, xs, fused=False, scan_unroll=2)[0]
    np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        seqjax.unroll(cell, params, xs, fast=True)
    with pytest.raises(TypeError, match="options must be a seqjax.ScanOptions, got dict"):
        seqjax.unroll(cell, params, xs, options={"fused": False})
    with pytest.warns(DeprecationWarning, match="Cell.loop_params is now Cell.prepare_loop"):
        assert cell.loop_params(params).keys() == cell.prepare_loop(params).keys()

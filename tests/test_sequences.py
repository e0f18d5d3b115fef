"""Sequences: padding never changes a result, reversal within lengths, stacks, bidirectional, dropout,
parallel scans, Hopfield recall."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import seqjax
from seqjax.core.masking import reverse_within_lengths
from tests.conftest import assert_close

D, H, B, T = 3, 4, 3, 6

PADDED_CELLS = {
    "lstm": seqjax.LSTM(D, H),
    "gru": seqjax.GRU(D, H),
    "min_gru": seqjax.MinGRU(D, H),
    "residual_stack": seqjax.Stack((seqjax.GRU(D, H), seqjax.LSTM(H, H), seqjax.Elman(H, H)), residual_from=0),
    "bidirectional": seqjax.Bidirectional(seqjax.LSTM(D, H)),
    "deep_bidirectional": seqjax.Stack((seqjax.Bidirectional(seqjax.GRU(D, H), merge="sum"),
                                        seqjax.Bidirectional(seqjax.MinLSTM(H, H)))),
}

_unroll = jax.jit(seqjax.unroll, static_argnums=0, static_argnames="reverse")


def trimmed(cell, params, xs, lengths, reverse=False):
    """The oracle: each sequence alone, cut to its length, with no lengths argument."""
    results = []
    for b in range(xs.shape[0]):
        n = int(lengths[b])
        results.append(_unroll(cell, params, xs[b, :n], reverse=reverse))
    return results


def batch_row(tree, b):
    return jax.tree_util.tree_map(lambda leaf: leaf[b], tree)


@pytest.mark.parametrize("name", sorted(PADDED_CELLS))
@settings(max_examples=12, deadline=None)
@given(lengths=st.lists(st.integers(0, T), min_size=B, max_size=B), seed=st.integers(0, 2**16), reverse=st.booleans())
@pytest.mark.slow
def test_padding_never_changes_a_result(name, lengths, seed, reverse):
    cell = PADDED_CELLS[name]
    params = cell.init(jax.random.key(1))
    rng = np.random.default_rng(seed)
    xs = jnp.asarray(rng.normal(size=(B, T, D)), jnp.float32)
    garbage = jnp.asarray(rng.normal(size=(B, T, D)) * 100, jnp.float32)
    lengths = jnp.asarray(lengths)
    valid = (jnp.arange(T)[None, :] < lengths[:, None])[..., None]
    ys, state = _unroll(cell, params, xs, lengths=lengths, reverse=reverse)
    # 1) different padding content: identical results
    ys2, state2 = _unroll(cell, params, jnp.where(valid, xs, garbage), lengths=lengths, reverse=reverse)
    assert_close((ys, state), (ys2, state2))
    # 2) padding outputs are exactly zero
    assert not np.any(np.asarray(jnp.where(valid, 0, ys)))
    # 3) each sequence run alone, trimmed to its length: same valid outputs and final state
    for b, (ys_b, state_b) in enumerate(trimmed(cell, params, xs, lengths, reverse)):
        n = int(lengths[b])
        assert_close(ys[b, :n], ys_b)
        assert_close(batch_row(state, b), state_b)


@pytest.mark.parametrize("name", sorted(PADDED_CELLS))
@pytest.mark.slow
def test_nan_in_padding_changes_neither_values_nor_gradients(name):
    cell = PADDED_CELLS[name]
    params = cell.init(jax.random.key(1))
    xs = jnp.asarray(np.random.default_rng(0).normal(size=(B, T, D)), jnp.float32)
    lengths = jnp.array([T, 2, 0])
    valid = (jnp.arange(T)[None, :] < lengths[:, None])[..., None]
    poisoned = jnp.where(valid, xs, jnp.nan)

    def loss(params, xs):
        ys, state = seqjax.unroll(cell, params, xs, lengths=lengths)
        return jnp.sum(ys ** 2) + sum(jnp.sum(s ** 2) for s in jax.tree_util.tree_leaves(state))

    clean_value, clean_grads = jax.value_and_grad(loss, argnums=(0, 1))(params, xs)
    value, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, poisoned)
    assert_close(value, clean_value)
    assert_close(grads[0], clean_grads[0])
    assert np.all(np.isfinite(np.asarray(grads[1]))) and not np.any(np.asarray(jnp.where(valid, 0.0, grads[1])))


@settings(max_examples=15, deadline=None)
@given(lengths=st.lists(st.integers(0, T), min_size=B, max_size=B), seed=st.integers(0, 2**16))
@pytest.mark.slow
def test_bidirectional_is_forward_and_reverse_on_trimmed_sequences(lengths, seed):
    fwd, bwd = seqjax.GRU(D, H), seqjax.LSTM(D, H)
    cell = seqjax.Bidirectional(fwd, bwd)
    params = cell.init(jax.random.key(2))
    xs = jnp.asarray(np.random.default_rng(seed).normal(size=(B, T, D)), jnp.float32)
    lengths = jnp.asarray(lengths)
    ys, state = _unroll(cell, params, xs, lengths=lengths)
    for b in range(B):
        n = int(lengths[b])
        seq = xs[b, :n]
        yf, sf = _unroll(fwd, params["forward"], seq)
        yb_rev, sb = _unroll(bwd, params["backward"], seq[::-1])  # plain reversal of the trimmed sequence
        assert_close(ys[b, :n], jnp.concatenate([yf, yb_rev[::-1]], axis=-1))
        assert_close(batch_row(state.forward, b), sf)
        assert_close(batch_row(state.backward, b), sb)


def test_time_major_equals_batch_major_and_torch_layout(key):
    import torch

    cell = seqjax.Bidirectional(seqjax.LSTM(D, H))
    params = cell.init(key)
    xs = jnp.asarray(np.random.default_rng(0).normal(size=(B, T, D)), jnp.float32)
    lengths = jnp.array([T, 2, 0])
    ys, state = seqjax.unroll(cell, params, xs, lengths=lengths)
    ys_t, state_t = seqjax.unroll(cell, params, jnp.swapaxes(xs, 0, 1), lengths=lengths, time_major=True, reverse=False)
    assert ys_t.shape == (T, B, 2 * H)
    assert_close((jnp.swapaxes(ys_t, 0, 1), state_t), (ys, state))
    lstm = torch.nn.LSTM(D, H)  # batch_first=False: PyTorch's default layout, fed as is
    torch_cell, torch_params = seqjax.from_torch(lstm)
    x = np.random.default_rng(1).normal(size=(T, B, D)).astype(np.float32)
    expected, _ = lstm(torch.from_numpy(x))
    got, _ = seqjax.unroll(torch_cell, torch_params, jnp.asarray(x), time_major=True)
    np.testing.assert_allclose(np.asarray(got), expected.detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match=r"time_major=True expects xs \[time, batch, features\]"):
        seqjax.unroll(cell, params, xs[0], time_major=True)


@pytest.mark.parametrize("reverse", [False, True])
def test_out_of_range_lengths_under_jit_give_nan_not_a_clamped_result(reverse, key):
    cell = seqjax.GRU(D, H)
    params = cell.init(key)
    xs = jnp.ones((B, T, D))
    run = jax.jit(lambda lengths: seqjax.unroll(cell, params, xs, lengths=lengths, reverse=reverse))
    ys, state = run(jnp.array([T, T + 3, -1]))
    good, good_state = seqjax.unroll(cell, params, xs, lengths=jnp.array([T, 2, 0]), reverse=reverse)
    assert_close((ys[0], state.h[0]), (good[0], good_state.h[0]))  # the valid row is untouched
    assert np.all(np.isnan(np.asarray(ys[1:]))) and np.all(np.isnan(np.asarray(state.h[1:])))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 6\]"):  # eagerly: an error
        seqjax.unroll(cell, params, xs, lengths=jnp.array([T, T + 3, -1]))


def test_reverse_within_lengths_example():
    xs = jnp.arange(10.0).reshape(5, 2)  # [t, b]
    out = reverse_within_lengths(xs, jnp.array([3, 5]))
    np.testing.assert_array_equal(out[:, 0], [4.0, 2.0, 0.0, 6.0, 8.0])  # [a b c _ _] -> [c b a _ _]
    np.testing.assert_array_equal(out[:, 1], [9.0, 7.0, 5.0, 3.0, 1.0])


def test_stack_equals_layers_composed_by_hand(key):
    layers = (seqjax.LSTM(D, H), seqjax.GRU(H, H), seqjax.Elman(H, H))
    stack = seqjax.Stack(layers, residual_from=0)
    params = stack.init(key)
    xs = jax.random.normal(key, (2, 5, D))
    ys, state = seqjax.unroll(stack, params, xs)
    y1, s1 = seqjax.unroll(layers[0], params[0], xs)
    y2, s2 = seqjax.unroll(layers[1], params[1], y1)
    y2 = y2 + y1  # residual into layer 1
    y3, s3 = seqjax.unroll(layers[2], params[2], y2)
    assert_close(ys, y3 + y2)
    assert_close(state.layers, (s1, s2, s3))
    # the per-step path (generation) and the layer-by-layer path agree
    assert_close(seqjax.loop_unroll(stack, params, xs), (ys, state))


def test_gnmt_residual_from_third_layer(key):
    stack = seqjax.Stack(tuple(seqjax.LSTM(D if i == 0 else H, H) for i in range(4)), residual_from=1)
    assert [stack._residual(i) for i in range(4)] == [False, False, True, True]
    with pytest.raises(ValueError, match="residual"):
        seqjax.Stack((seqjax.LSTM(D, H), seqjax.LSTM(H, 2 * H)), residual_from=0)


@pytest.mark.slow
def test_stack_dropout_is_variational_and_off_without_key(key):
    stack = seqjax.Stack((seqjax.LSTM(D, 64), seqjax.LSTM(64, H)), dropout=0.5)
    params = stack.init(key)
    xs = jax.random.normal(key, (8, 5, D))
    plain = seqjax.Stack(stack.layers)
    assert_close(seqjax.unroll(stack, params, xs)[0], seqjax.unroll(plain, params, xs)[0])  # no key: off
    state = stack.initial_state(8, key=jax.random.key(3))
    (mask,) = state.masks
    assert mask.shape == (8, 64)
    assert set(np.unique(np.asarray(mask))) == {0.0, 2.0}
    assert 0.35 < float(jnp.mean(mask == 0)) < 0.65
    # the same key gives the same masks in the scan (hoisted or not) and in the step-by-step path
    want = seqjax.loop_unroll(stack, params, xs, key=jax.random.key(3))
    for hoist in (True, False):
        assert_close(seqjax.unroll(stack, params, xs, key=jax.random.key(3), options=seqjax.ScanOptions(hoist=hoist)), want)
    dropped, _ = seqjax.unroll(stack, params, xs, key=jax.random.key(3))
    assert not np.allclose(dropped, seqjax.unroll(plain, params, xs)[0])


def test_variational_dropout_reuses_one_mask_per_sequence(key):
    """With an identity-like cell, the input mask shows in every time step's output unchanged."""
    inner = seqjax.Elman(D, D, activation="identity")
    cell = seqjax.VariationalDropout(inner, input_rate=0.5, recurrent_rate=0.5)
    params = {"wx": jnp.eye(D), "wh": jnp.zeros((D, D)), "b": jnp.zeros(D)}
    xs = jnp.ones((16, 7, D))
    ys, state = seqjax.unroll(cell, params, xs, key=key)
    np.testing.assert_allclose(ys, jnp.broadcast_to(state.input_mask[:, None, :], ys.shape))
    assert 0 < float(jnp.mean(state.input_mask == 0)) < 1
    want = seqjax.loop_unroll(cell, params, xs, key=key)
    for hoist in (True, False):
        assert_close(seqjax.unroll(cell, params, xs, key=key, options=seqjax.ScanOptions(hoist=hoist)), want)
    # deterministic without a key
    assert_close(seqjax.unroll(cell, params, xs)[0], seqjax.unroll(inner, params, xs)[0])


def test_recurrent_dropout_masks_the_fed_back_state(key):
    inner = seqjax.Elman(D, D, activation="identity")
    cell = seqjax.VariationalDropout(inner, recurrent_rate=0.5)
    params = {"wx": jnp.zeros((D, D)), "wh": jnp.eye(D), "b": jnp.zeros(D)}
    state0 = cell.initial_state(4, key=key)
    state0 = state0._replace(cell=seqjax.RNNState(jnp.ones((4, D))))
    ys, _ = seqjax.unroll(cell, params, jnp.zeros((4, 3, D)), initial_state=state0)
    m = state0.recurrent_mask
    np.testing.assert_allclose(ys, jnp.stack([m, m * m, m * m * m], axis=1))


@pytest.mark.parametrize("cls", [seqjax.MinGRU, seqjax.MinLSTM])
@pytest.mark.parametrize("t", [1, 7, 1000])
def test_parallel_scan_equals_step_path(cls, t, key):
    cell = cls(D, H)
    params = cell.init(key)
    xs = jax.random.normal(key, (2, t, D))
    lengths = jnp.array([t, max(t // 2, 1)])
    parallel = seqjax.unroll(cell, params, xs, lengths=lengths)
    sequential = seqjax.unroll(cls(D, H, mode="sequential"), params, xs, lengths=lengths)
    stepped = seqjax.unroll(seqjax.VariationalDropout(cell), params, xs, lengths=lengths)  # uses recur in the scan
    assert_close(parallel, sequential)
    assert_close(parallel[0], stepped[0])
    # generation: one token at a time from the final state continues the parallel run
    state, y = cell.step(params, parallel[1], xs[:, 0])
    full, _ = seqjax.unroll(cell, params, jnp.concatenate([xs, xs[:, :1]], axis=1))
    assert_close(y[0], full[0, -1])


@pytest.mark.slow
def test_linear_scan_modes_agree(key):
    a = jax.random.uniform(key, (50, 3))
    b = jax.random.normal(key, (50, 3))
    h0 = jnp.ones(3)
    assert_close(seqjax.linear_scan(a, b, h0), seqjax.linear_scan(a, b, h0, mode="sequential"))
    with pytest.raises(ValueError, match="mode"):
        seqjax.linear_scan(a, b, h0, mode="bogus")


@pytest.mark.parametrize("rule", ["hebbian", "pseudoinverse"])
def test_hopfield_recalls_patterns_from_noisy_probes(rule):
    rng = np.random.default_rng(0)
    n, k = 64, 4
    patterns = np.where(rng.random((k, n)) < 0.5, -1.0, 1.0)
    net = seqjax.Hopfield(n)
    params = net.store(patterns, rule)
    probes = patterns.copy()
    for row in probes:
        row[rng.choice(n, 6, replace=False)] *= -1  # flip 6 of 64 bits
    result = jax.jit(net.recall)(params, jnp.asarray(probes, jnp.float32))
    np.testing.assert_array_equal(np.asarray(result.state), patterns)
    assert bool(jnp.all(result.converged)) and int(result.steps) < 100
    # stored patterns are fixed points and energy does not increase along the iteration
    assert_close(net.recall(params, jnp.asarray(patterns, jnp.float32)).state, patterns)
    a = jnp.asarray(probes[0], jnp.float32)
    energies = []
    for _ in range(5):
        energies.append(float(net.energy(params, a)))
        (a,), _ = net.recur(params, seqjax.RNNState(a), 0.0)
    assert all(e2 <= e1 + 1e-5 for e1, e2 in zip(energies, energies[1:]))


def test_hopfield_reports_non_convergence_at_the_step_cap():
    net = seqjax.Hopfield(2)
    params = {"w": -2.0 * jnp.eye(2), "b": jnp.zeros(2)}  # a -> satlins(-2a) = -a: a 2-cycle, never a fixed point
    result = net.recall(params, jnp.array([1.0, -1.0]), max_steps=7)
    assert not bool(result.converged) and int(result.steps) == 7


def test_hopfield_store_rejects_bad_patterns():
    net = seqjax.Hopfield(4)
    with pytest.raises(ValueError, match="bipolar"):
        net.store(jnp.array([[1.0, 0.0, 1.0, -1.0]]))
    with pytest.raises(ValueError, match=r"\[k, 4\]"):
        net.store(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="rule"):
        net.store(jnp.ones((1, 4)), rule="oja")

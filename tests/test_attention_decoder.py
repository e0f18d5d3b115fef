"""The attention decoder is a cell: unroll equals a loop of step, padding never changes a result, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.test_util import check_grads

import seqjax
from tests.conftest import assert_close

B, S, T, E, H = 3, 6, 4, 5, 8
MEMORY = 2 * H


def decoders():
    return {
        "bahdanau_gru": seqjax.AttentionDecoder(seqjax.GRU(E + MEMORY, H), seqjax.AdditiveAttention(H, MEMORY, 7)),
        "bahdanau_stack": seqjax.AttentionDecoder(seqjax.Stack((seqjax.LSTM(E + MEMORY, H), seqjax.GRU(H, H))),
                                                  seqjax.LuongAttention(H, MEMORY, "general")),
        "luong": seqjax.AttentionDecoder(seqjax.LSTM(E, H), seqjax.LuongAttention(H, MEMORY, "general"), style="luong"),
        "luong_input_feeding": seqjax.AttentionDecoder(seqjax.GRU(E + 9, H), seqjax.AdditiveAttention(H, MEMORY, 7), style="luong",
                                                       input_feeding=True, attention_layer_size=9),
    }


def setup(decoder, key, source_lengths=(6, 3, 1)):
    kp, km, kx = jax.random.split(key, 3)
    params = decoder.init(kp)
    memory = jax.random.normal(km, (B, S, MEMORY))
    xs = jax.random.normal(kx, (B, T, E))
    return params, memory, jnp.array(source_lengths), xs


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("bahdanau_gru", "bahdanau_stack") else n for n in sorted(decoders())])
def test_unroll_equals_a_loop_of_step(name, key):
    decoder = decoders()[name]
    params, memory, source_lengths, xs = setup(decoder, key)
    state = decoder.start(params, memory, source_lengths)
    target_lengths = jnp.array([4, 2, 0])
    ys, final = jax.jit(lambda p, x, s: seqjax.unroll(decoder, p, x, lengths=target_lengths, initial_state=s))(params, xs, state)
    # the loop, by hand: step after step, frozen past each target length
    s, want = state, []
    for t in range(T):
        new, y = decoder.step(params, s, xs[:, t])
        valid = np.asarray(t < target_lengths)
        want.append(np.where(valid[:, None], np.asarray(y), 0))
        s = jax.tree_util.tree_map(lambda n, o: jnp.where(valid.reshape((B,) + (1,) * (n.ndim - 1)), n, o), new, s)
    assert_close(ys, np.stack(want, 1))
    assert_close(final.cell, s.cell)
    assert ys.shape == (B, T, decoder.output_dim)


def test_attention_weights_of_every_step(key):
    decoder = seqjax.AttentionDecoder(seqjax.GRU(E + MEMORY, H), seqjax.AdditiveAttention(H, MEMORY, 7), return_weights=True)
    params, memory, source_lengths, xs = setup(decoder, key)
    out, _ = seqjax.unroll(decoder, params, xs, initial_state=decoder.start(params, memory, source_lengths))
    weights = np.asarray(out.weights)  # [b, t, s]
    assert weights.shape == (B, T, S) and out.y.shape == (B, T, decoder.output_dim)
    assert_close(weights.sum(-1), np.ones((B, T)))
    assert np.all(weights[1, :, 3:] == 0) and np.all(weights[2, :, 1:] == 0) and np.allclose(weights[2, :, 0], 1)


@settings(max_examples=8, deadline=None)
@given(name=st.sampled_from(sorted(decoders())), extra_source=st.integers(1, 4), extra_target=st.integers(0, 3), seed=st.integers(0, 999))
@pytest.mark.slow
def test_padding_the_source_or_the_target_changes_nothing(name, extra_source, extra_target, seed):
    decoder = decoders()[name]
    params, memory, source_lengths, xs = setup(decoder, jax.random.key(seed))
    target_lengths = jnp.array([4, 3, 1])
    ys, final = seqjax.unroll(decoder, params, xs, lengths=target_lengths, initial_state=decoder.start(params, memory, source_lengths))
    padded_memory = jnp.concatenate([memory, 50 * jnp.ones((B, extra_source, MEMORY))], 1)
    padded_xs = jnp.concatenate([xs, -9 * jnp.ones((B, extra_target, E))], 1)
    ys2, final2 = seqjax.unroll(decoder, params, padded_xs, lengths=target_lengths,
                                initial_state=decoder.start(params, padded_memory, source_lengths))
    assert_close(ys2[:, :T], ys)
    assert np.all(np.asarray(ys2[:, T:]) == 0)
    assert_close(final2.cell, final.cell)


@pytest.mark.slow
def test_decoder_gradients_check_grads(key):
    decoder = decoders()["luong_input_feeding"]
    with jax.enable_x64(True):
        params, memory, source_lengths, xs = setup(decoder, key)
        params, memory, xs = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), (params, memory, xs))

        def run(params, memory, xs):
            state = decoder.start(params, memory, source_lengths)
            return seqjax.unroll(decoder, params, xs, lengths=jnp.array([4, 2, 3]), initial_state=state)[0]

        check_grads(run, (params, memory, xs), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


def test_decoder_errors(key):
    decoder = decoders()["bahdanau_gru"]
    params, memory, source_lengths, xs = setup(decoder, key)
    with pytest.raises(TypeError, match=r"make it with decoder.start\(params, memory, lengths\)"):
        seqjax.unroll(decoder, params, xs)
    with pytest.raises(ValueError, match=r"memory must have shape \[batch, source_length, 16\]"):
        decoder.start(params, memory[..., :4], source_lengths)
    with pytest.raises(ValueError, match=r"an empty source sentence has nothing to attend to"):
        decoder.start(params, memory, jnp.array([6, 0, 2]))
    with pytest.raises(ValueError, match=r"initial_state.memory has shape \(2, 6, 16\), expected \[3, source_length, 16\]"):
        state = decoder.start(params, memory[:2], source_lengths[:2])
        seqjax.unroll(decoder, params, xs, initial_state=state._replace(cell=seqjax.RNNState(jnp.zeros((B, H)))))
    with pytest.raises(ValueError, match=r"attention.query_size is 5, but the query \(the cell's output\) has size 8"):
        seqjax.AttentionDecoder(seqjax.GRU(E + MEMORY, H), seqjax.AdditiveAttention(5, MEMORY, 7))
    with pytest.raises(ValueError, match="input_feeding is Luong's"):
        seqjax.AttentionDecoder(seqjax.GRU(E + MEMORY, H), seqjax.AdditiveAttention(H, MEMORY, 7), input_feeding=True)
    with pytest.raises(ValueError, match=r"cell.input_size \(16\) must exceed what is concatenated"):
        seqjax.AttentionDecoder(seqjax.GRU(MEMORY, H), seqjax.AdditiveAttention(H, MEMORY, 7))

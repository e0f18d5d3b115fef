"""Transformer pieces against formulas and loops written from the paper's equations: the positional
encoding, multi-head attention, causality, padding, the KV cache and decoding."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import seqjax
from seqjax import decoding
from seqjax.models import Transformer, TransformerLM
from seqjax.attention.multi_head import MultiHeadAttention
from seqjax.layers.positional import LearnedPositions, SinusoidalPositions, sinusoidal_table
from seqjax.attention.transformer import Decoder, DecoderLayer, Encoder, EncoderLayer
from tests.conftest import assert_close

D, HEADS, B = 12, 3, 3


def normal(seed, shape, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


# --- positional encoding ------------------------------------------------------------------------


@pytest.mark.parametrize("d_model", [8, 7])
def test_sinusoidal_encoding_is_the_lecture_formula(d_model):
    table = sinusoidal_table(50, d_model)
    for pos in range(50):
        for j in range(d_model):
            i = j // 2
            angle = pos / 10000 ** (2 * i / d_model)
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[pos, j] == pytest.approx(want, abs=1e-6)
    positions = SinusoidalPositions(50, d_model)
    assert positions.init() == {}
    assert_close(positions({}, jnp.array([[3, 0]])), table[[[3, 0]]])


def test_learned_positions_and_their_errors(key):
    positions = LearnedPositions(10, 4)
    params = positions.init(key)
    assert params["table"].shape == (10, 4)
    assert_close(positions(params, jnp.arange(3)), params["table"][:3])
    with pytest.raises(ValueError, match=r"params\['table'\] has shape \(9, 4\)"):
        positions({"table": jnp.zeros((9, 4))}, jnp.arange(3))


# --- multi-head attention against a loop over heads ----------------------------------------------


def reference_mha(params, query, memory, mask, heads):
    """softmax(Q_i K_iᵀ/√d_k) V_i for each head i and example, concatenated, times W^O: plain NumPy."""
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    q_all = np.asarray(query, np.float64) @ p["q"]["w"] + p["q"]["b"]
    k_all = np.asarray(memory, np.float64) @ p["k"]["w"] + p["k"]["b"]
    v_all = np.asarray(memory, np.float64) @ p["v"]["w"] + p["v"]["b"]
    d_k = q_all.shape[-1] // heads
    out = np.zeros(q_all.shape)
    for b in range(q_all.shape[0]):
        for i in range(heads):
            cols = slice(i * d_k, (i + 1) * d_k)
            scores = q_all[b][:, cols] @ k_all[b][:, cols].T / math.sqrt(d_k)
            scores = np.where(mask[b], scores, -np.inf)
            w = np.exp(scores - scores.max(-1, keepdims=True))
            out[b][:, cols] = (w / w.sum(-1, keepdims=True)) @ v_all[b][:, cols]
    return out @ p["o"]["w"] + p["o"]["b"]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("return_weights", [False, True])
def test_multi_head_attention_equals_a_loop_over_heads(key, causal, return_weights):
    mha = MultiHeadAttention(D, HEADS)
    params = mha.init(key)
    params = jax.tree_util.tree_map(lambda a: a + 0.1 * normal(5, a.shape), params)  # nonzero biases
    x = normal(1, (B, 6, D))
    lengths = jnp.array([6, 2, 4])
    key_mask = seqjax.sequence_mask(lengths, 6)
    y, w = mha(params, x, key_mask=key_mask, causal=causal, return_weights=return_weights)
    mask = np.asarray(key_mask)[:, None, :] & (np.tril(np.ones((6, 6), bool)) if causal else True)
    assert_close(y, reference_mha(params, x, x, mask, HEADS))
    if return_weights:
        assert w.shape == (B, HEADS, 6, 6)
        assert np.all(np.asarray(w)[~np.broadcast_to(mask[:, None], w.shape)] == 0.0)  # padded and future keys: exactly zero
        assert_close(jnp.sum(w, -1), jnp.ones((B, HEADS, 6)))


def test_cross_attention_with_another_memory_size(key):
    mha = MultiHeadAttention(D, HEADS, kv_features=5)
    params = mha.init(key)
    q, memory = normal(1, (B, 4, D)), normal(2, (B, 7, 5))
    key_mask = seqjax.sequence_mask(jnp.array([7, 3, 1]), 7)
    y, _ = mha(params, q, memory, key_mask=key_mask)
    assert_close(y, reference_mha(params, q, memory, np.asarray(key_mask)[:, None, :].repeat(4, 1), HEADS))
    assert y.shape == (B, 4, D)


@pytest.mark.slow
def test_attention_gradients_against_finite_differences(key):
    with jax.enable_x64(True):
        mha = MultiHeadAttention(6, 2, param_dtype=jnp.float64)
        params = mha.init(key)
        x = normal(1, (2, 4, 6), jnp.float64)
        mask = seqjax.sequence_mask(jnp.array([4, 2]), 4)
        check_grads(lambda p, x: mha(p, x, key_mask=mask, causal=True)[0], (params, x), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)
        layer = EncoderLayer(6, 2, 8, dropout=0.0, param_dtype=jnp.float64)
        lp = layer.init(key)
        check_grads(lambda p, x: layer(p, x, key_mask=mask), (lp, x), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


@pytest.mark.slow  # 5-7 s on 2 cores
def test_attention_dropout_only_with_a_key(key):
    mha = MultiHeadAttention(D, HEADS, dropout=0.5)
    params, x = mha.init(key), normal(1, (B, 5, D))
    plain, _ = mha(params, x)
    assert_close(mha(params, x)[0], plain)
    dropped, _ = mha(params, x, key=jax.random.key(3))
    assert not np.allclose(dropped, plain)


def test_vmap_and_jit_agree_with_the_batch(key):
    mha = MultiHeadAttention(D, HEADS)
    params, x = mha.init(key), normal(1, (B, 5, D))
    whole, _ = mha(params, x, causal=True)
    one_at_a_time = jax.vmap(lambda xi: mha(params, xi[None], causal=True)[0][0])(x)
    assert_close(one_at_a_time, whole)
    assert_close(jax.jit(lambda p, x: mha(p, x, causal=True)[0])(params, x), whole)


@pytest.mark.slow  # ~9 s on 2 cores
def test_bfloat16_compute_over_float32_params(key):
    layer = DecoderLayer(D, HEADS, 24, dropout=0.0, cross_attention=False)
    params = layer.init(key)
    x = normal(1, (B, 5, D))
    full, _ = layer(params, x)
    half, _ = layer(jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), params), x.astype(jnp.bfloat16))
    assert half.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(half, np.float32), full, atol=0.1, rtol=0.1)


# --- causality and padding -----------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.slow
def test_causal_mask_stops_information_from_the_future(key, norm_first):
    model = TransformerLM(11, d_model=D, num_heads=HEADS, num_layers=2, context=6, norm_first=norm_first)
    params = model.init(key)
    x = model._inputs(params, jnp.array([[1, 2, 3, 4, 5, 6]]), jnp.arange(6))
    jac = jax.jacobian(lambda x: model.decoder(params["decoder"], x))(x)  # [1, t, d, 1, t', d]
    influence = np.abs(np.asarray(jac)).sum(axis=(0, 2, 3, 5))               # [t, t']
    assert np.all(influence[np.triu_indices(6, k=1)] == 0.0)  # exactly zero, not merely small
    assert np.all(influence[np.tril_indices(6)] > 0.0)


@settings(max_examples=5, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3), extra=st.integers(1, 5), norm_first=st.booleans())
@pytest.mark.slow
def test_extra_padding_changes_nothing(lengths, extra, norm_first):
    encoder = Encoder(EncoderLayer(D, HEADS, 16, dropout=0.0, norm_first=norm_first), 2)
    params = encoder.init(jax.random.key(0))
    lengths = jnp.array(lengths)
    x = normal(1, (len(lengths), 6, D))
    padded = jnp.concatenate([x, 100.0 * normal(2, (len(lengths), extra, D))], axis=1)  # garbage in the padding
    short = encoder(params, x, key_mask=seqjax.sequence_mask(lengths, 6))
    long = encoder(params, padded, key_mask=seqjax.sequence_mask(lengths, 6 + extra))
    assert_close(long[:, :6], short)
    assert np.all(np.asarray(long)[:, 6:] == 0.0)


# --- the KV cache ------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.slow
def test_cached_decoding_equals_the_full_causal_pass_at_every_step(key, norm_first):
    decoder = Decoder(DecoderLayer(D, HEADS, 16, dropout=0.0, norm_first=norm_first, memory_size=5), 2)
    params = decoder.init(key)
    x, memory = normal(1, (B, 7, D)), normal(2, (B, 4, 5))
    memory_mask = seqjax.sequence_mask(jnp.array([4, 1, 3]), 4)
    full = decoder(params, x, memory, memory_mask=memory_mask)
    state = decoder.start(params, B, 9, memory, memory_mask)
    step = jax.jit(decoder.step)
    for t in range(7):
        state, y = step(params, state, x[:, t])
        assert_close(y, full[:, t])
    assert np.all(np.asarray(state.position) == 7)
    # prefill: reading a prefix at once fills the same cache
    prefix, state = decoder(params, x[:, :3], memory, memory_mask=memory_mask, cache_length=9)
    assert_close(prefix, full[:, :3])
    for t in range(3, 7):
        state, y = step(params, state, x[:, t])
        assert_close(y, full[:, t])


@pytest.mark.slow
def test_language_model_cache_and_the_window_past_its_context(key):
    model = TransformerLM(13, d_model=D, num_heads=HEADS, num_layers=2, context=5)
    params = model.init(key)
    ids = jax.random.randint(jax.random.key(1), (B, 12), 0, 13)
    step, full = jax.jit(model.step), jax.jit(model.logits)
    state, logits = model.prefill(params, ids[:, :2])
    assert_close(logits, full(params, ids[:, :2])[:, -1])
    for t in range(2, 12):  # past position 5 each step reads the last 5 tokens again (nanoGPT's cropping)
        state, logits = step(params, state, ids[:, t])
        assert_close(logits, full(params, ids[:, max(0, t - 4): t + 1])[:, -1])


@pytest.mark.slow  # 5-7 s on 2 cores
def test_cache_errors(key):
    decoder = Decoder(DecoderLayer(D, HEADS, 16, cross_attention=False), 1)
    params = decoder.init(key)
    other = Decoder(DecoderLayer(D, 2, 16, cross_attention=False), 1)
    with pytest.raises(ValueError, match="cache must hold"):
        decoder.step(params, other.start(other.init(key), B, 4), normal(1, (B, D)))
    with pytest.raises(ValueError, match="length .* must be a positive int"):
        decoder.start(params, B, 0)
    with pytest.raises(ValueError, match="cache_length \\(2\\) must be at least"):
        decoder(params, normal(1, (B, 3, D)), cache_length=2)


# --- models and decoding -------------------------------------------------------------------------


def tiny_translator(**fields):
    return Transformer(17, 19, d_model=D, num_heads=HEADS, encoder_layers=2, decoder_layers=2, d_ff=16, dropout=0.0,
                       max_length=12, **fields)


@pytest.mark.slow
def test_beam_width_one_is_greedy_and_the_step_is_the_teacher_forced_pass(key):
    model = tiny_translator()
    params = model.init(key)
    source = jax.random.randint(jax.random.key(1), (B, 6), 4, 17)
    lengths = jnp.array([6, 3, 5])
    greedy = model.generate(params, source, lengths, max_length=8)
    beam = model.generate(params, source, lengths, max_length=8, method="beam", beam_width=1)
    np.testing.assert_array_equal(beam.tokens[:, 0], greedy.tokens)
    # the decoding library's own call on model.step gives the same tokens
    state = model.prepare(params, source, lengths, max_length=8)
    again = decoding.greedy(model.step, params, state, jnp.full((B,), seqjax.data.GO_ID), max_length=8, eos_id=seqjax.data.EOS_ID)
    np.testing.assert_array_equal(again.tokens, greedy.tokens)
    coldest = model.generate(params, source, lengths, max_length=8, method="sample", key=jax.random.key(2), temperature=0.0)
    np.testing.assert_array_equal(coldest.tokens, greedy.tokens)  # sampling at temperature 0 is greedy too
    # teacher-forcing the generated tokens reproduces the greedy choices
    inputs = jnp.concatenate([jnp.full((B, 1), seqjax.data.GO_ID), greedy.tokens[:, :-1]], axis=1)
    logits = model.logits(params, source, lengths, inputs, greedy.lengths)
    chosen = np.asarray(jnp.argmax(logits, -1))
    for b in range(B):
        np.testing.assert_array_equal(chosen[b, : int(greedy.lengths[b])], greedy.tokens[b, : int(greedy.lengths[b])])


@pytest.mark.slow
def test_translator_learns_to_copy(key):
    import optax

    model = tiny_translator(tie_output=False)
    params = model.init(key)
    rng = np.random.default_rng(0)
    src = rng.integers(4, 17, (64, 5))
    batch = {"source": jnp.asarray(src), "source_lengths": jnp.full((64,), 5),
             "target_inputs": jnp.asarray(np.concatenate([np.full((64, 1), seqjax.data.GO_ID), src], 1)),
             "target_outputs": jnp.asarray(np.concatenate([src, np.full((64, 1), seqjax.data.EOS_ID)], 1)),
             "target_lengths": jnp.full((64,), 6)}
    opt = optax.adam(3e-3)
    with jax.numpy_dtype_promotion("standard"):
        state = opt.init(params)

        @jax.jit
        def train(params, state, key):
            (loss, _), grads = jax.value_and_grad(model.loss, has_aux=True)(params, batch, key)
            updates, state = opt.update(grads, state)
            return optax.apply_updates(params, updates), state, loss

        first = None
        for i in range(300):
            params, state, loss = train(params, state, jax.random.fold_in(key, i))
            first = loss if first is None else first
    out = model.generate(params, batch["source"][:8], batch["source_lengths"][:8], max_length=6)
    assert float(loss) < 0.2 * float(first)
    assert np.mean(np.asarray(out.tokens[:, :5]) == src[:8]) > 0.9


@pytest.mark.slow  # 5-7 s on 2 cores
def test_model_errors(key):
    with pytest.raises(ValueError, match=r"d_model \(10\) must be divisible by num_heads \(3\)"):
        Transformer(10, 10, d_model=10, num_heads=3)
    with pytest.raises(ValueError, match="positions must be one of"):
        TransformerLM(10, positions="rotary")
    model = tiny_translator()
    params = model.init(key)
    with pytest.raises(ValueError, match="source of length 13 is longer than the positional table"):
        model.encode(params, jnp.ones((1, 13), jnp.int32), jnp.array([13]))
    with pytest.raises(ValueError, match="method must be 'greedy', 'beam' or 'sample', got 'topk'"):
        model.generate(params, jnp.ones((1, 3), jnp.int32), jnp.array([3]), max_length=5, method="topk")
    with pytest.raises(ValueError, match=r"max_length\) of length 20"):
        model.generate(params, jnp.ones((1, 3), jnp.int32), jnp.array([3]), max_length=20)
    mha = MultiHeadAttention(D, HEADS)
    mp, x = mha.init(key), normal(1, (B, 4, D))
    with pytest.raises(ValueError, match="key_mask must be a bool array"):
        mha(mp, x, key_mask=jnp.ones((B, 4)))
    with pytest.raises(ValueError, match=r"key_mask must have shape \[batch, keys\] = \[3, 4\], got \(3, 5\)"):
        mha(mp, x, key_mask=jnp.ones((B, 5), bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        mha(mp, x, mask=jnp.ones((4, 5), bool))
    with pytest.raises(ValueError, match=r"query must have shape \[batch, length, d_model=12\]"):
        mha(mp, normal(1, (B, 4, 8)))

"""Attention scores against their formulas written out in NumPy, padding properties, gradients, PyTorch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from jax.test_util import check_grads

import seqjax
from seqjax.attention.scores import AdditiveAttention, LuongAttention
from tests.conftest import assert_close

B, S, Q, M, A = 3, 5, 4, 6, 7
LENGTHS = np.array([5, 2, 1])


def softmax_rows(scores, lengths):
    """Row-wise softmax over the first ``length`` positions, zeros after: the obvious loop."""
    out = np.zeros_like(scores)
    for b, n in enumerate(lengths):
        e = np.exp(scores[b, :n] - scores[b, :n].max())
        out[b, :n] = e / e.sum()
    return out


def inputs(key, dtype=jnp.float32):
    kq, km = jax.random.split(key)
    return jax.random.normal(kq, (B, Q), dtype), jax.random.normal(km, (B, S, M), dtype)


def reference(layer, params, query, memory):
    """Scores s_t from each paper's formula, one position at a time, float64."""
    q, x = np.asarray(query, np.float64), np.asarray(memory, np.float64)
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    scores = np.zeros((B, S))
    for b in range(B):
        for t in range(S):
            if isinstance(layer, AdditiveAttention):
                scores[b, t] = p["v"] @ np.tanh(p["wq"].T @ q[b] + p["wk"].T @ x[b, t] + p["b"])
            elif layer.score == "general":
                scores[b, t] = q[b] @ p["w"] @ x[b, t]
            else:
                scores[b, t] = q[b] @ x[b, t] / (np.sqrt(M) if layer.score == "scaled_dot" else 1.0)
    weights = softmax_rows(scores, LENGTHS)
    return np.einsum("bt,btm->bm", weights, x), weights


LAYERS = {"additive": AdditiveAttention(Q, M, A), "general": LuongAttention(Q, M, "general"),
          "dot": LuongAttention(M, M, "dot"), "scaled_dot": LuongAttention(M, M, "scaled_dot")}


@pytest.mark.parametrize("name", LAYERS)
def test_attention_matches_the_formula_and_masks_padding(name, key):
    layer = LAYERS[name]
    params = layer.init(key)
    query, memory = inputs(jax.random.fold_in(key, 1))
    if layer.query_size == M:
        query = jax.random.normal(key, (B, M))
    mask = seqjax.sequence_mask(jnp.asarray(LENGTHS), S)
    context, weights = jax.jit(layer)(params, query, layer.keys(params, memory), memory, mask)
    want_context, want_weights = reference(layer, params, query, memory)
    assert_close(weights, want_weights)
    assert_close(context, want_context)
    assert np.all(np.asarray(weights)[~np.asarray(mask)] == 0.0)  # exactly zero, not tiny
    assert_close(np.asarray(weights).sum(-1), np.ones(B))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "additive" else n for n in LAYERS])  # additive: ~7 s
def test_attention_gradients_check_grads(name, key):
    layer = LAYERS[name]
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), layer.init(key))
        query = jax.random.normal(key, (B, layer.query_size), jnp.float64)
        memory = jax.random.normal(jax.random.fold_in(key, 1), (B, S, M), jnp.float64)
        mask = seqjax.sequence_mask(jnp.asarray(LENGTHS), S)

        def context(params, query, memory):
            return layer(params, query, layer.keys(params, memory), memory, mask)[0]

        check_grads(context, (params, query, memory), order=1, modes=("rev",), atol=1e-6, rtol=1e-6)


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(sorted(LAYERS)), extra=st.integers(1, 6), seed=st.integers(0, 2**16))
@pytest.mark.slow
def test_extra_source_padding_changes_nothing(name, extra, seed):
    layer = LAYERS[name]
    key = jax.random.key(seed)
    params = layer.init(key)
    query = jax.random.normal(key, (B, layer.query_size))
    memory = jax.random.normal(jax.random.fold_in(key, 1), (B, S, M))
    padded = jnp.concatenate([memory, 1e3 * jnp.ones((B, extra, M))], axis=1)  # garbage in the padding
    lengths = jnp.asarray(LENGTHS)
    c1, w1 = layer(params, query, layer.keys(params, memory), memory, seqjax.sequence_mask(lengths, S))
    c2, w2 = layer(params, query, layer.keys(params, padded), padded, seqjax.sequence_mask(lengths, S + extra))
    assert_close(c2, c1)
    assert_close(w2[:, :S], w1)
    assert np.all(np.asarray(w2[:, S:]) == 0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("return_weights", [False, True])
def test_scaled_dot_product_is_the_formula_and_torch(causal, return_weights, key):
    b, t, h, d = 2, 5, 3, 4
    kq, kk, kv = jax.random.split(key, 3)
    q, k, v = (jax.random.normal(kk_, (b, t, h, d)) for kk_ in (kq, kk, kv))
    lengths = np.array([5, 3])
    mask = seqjax.sequence_mask(jnp.asarray(lengths), t)[:, None, None, :]
    out, weights = jax.jit(seqjax.scaled_dot_product_attention, static_argnames=("causal", "return_weights"))(
        q, k, v, mask=mask, causal=causal, return_weights=return_weights)
    # the formula, written out: softmax(Q Kᵀ / √d) V per batch and head, masked keys at -inf
    qn, kn, vn = (np.asarray(a, np.float64) for a in (q, k, v))
    want = np.zeros((b, t, h, d))
    want_w = np.zeros((b, h, t, t))
    for i in range(b):
        for j in range(h):
            scores = qn[i, :, j] @ kn[i, :, j].T / np.sqrt(d)
            allowed = np.arange(t)[None, :] < lengths[i]
            if causal:
                allowed = allowed & np.tril(np.ones((t, t), bool))
            scores = np.where(allowed, scores, -np.inf)
            w = np.exp(scores - scores.max(-1, keepdims=True))
            w = w / w.sum(-1, keepdims=True)
            want_w[i, j] = w
            want[i, :, j] = w @ vn[i, :, j]
    assert_close(out, want)
    if return_weights:
        assert_close(weights, want_w)
    else:
        assert weights is None
    # PyTorch's scaled_dot_product_attention with the same mask ([b, h, t, d] layout)
    tq, tk, tv = (torch.from_numpy(np.array(a)).transpose(1, 2) for a in (q, k, v))
    torch_mask = torch.from_numpy(np.broadcast_to(np.asarray(mask), (b, 1, t, t)).copy())
    if causal:
        torch_mask = torch_mask & torch.tril(torch.ones(t, t, dtype=torch.bool))
    theirs = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch_mask).transpose(1, 2).numpy()
    assert_close(out, theirs)


def test_attention_errors():
    with pytest.raises(ValueError, match=r"LuongAttention\(score='dot'\) needs query_size == memory_size"):
        LuongAttention(4, 6, "dot")
    with pytest.raises(ValueError, match="LuongAttention.score must be one of"):
        LuongAttention(4, 4, "cosine")
    with pytest.raises(ValueError, match="AdditiveAttention.attention_size must be a positive int"):
        AdditiveAttention(4, 4, 0)

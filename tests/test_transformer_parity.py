"""from_torch for nn.MultiheadAttention and the nn.Transformer{Encoder,Decoder}[Layer] modules: the same outputs
as PyTorch in evaluation mode within 1e-5 (float32), batch_first and norm_first either way, with key-padding
and causal masks."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

import seqjax

torch = pytest.importorskip("torch", reason="parity tests need the 'test' extra (torch==2.13.0, CPU)")

D, HEADS, FF, B, T, S = 16, 4, 24, 3, 7, 5
LENGTHS, SOURCE_LENGTHS = np.array([7, 3, 5]), np.array([5, 2, 4])


def arrays(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def to_torch(x, batch_first):
    t = torch.from_numpy(np.asarray(x))
    return t if batch_first else t.transpose(0, 1)


def from_torch_out(y, batch_first):
    y = y.detach()
    return (y if batch_first else y.transpose(0, 1)).numpy()


def padding(lengths, t):
    """PyTorch's key_padding_mask: True at padding."""
    return torch.from_numpy(np.arange(t)[None, :] >= lengths[:, None])


def real(y, lengths):
    """Only the real positions: PyTorch leaves values at padded ones, seqjax zeroes them."""
    return [y[b, : lengths[b]] for b in range(len(lengths))]


def assert_real_close(got, want, lengths):
    for g, w in zip(real(np.asarray(got), lengths), real(want, lengths)):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)


def randomize_biases(module):
    """PyTorch starts its attention and norm biases at zero and norm scales at one: move them."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "bias" in name or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return module.eval()


# causal attention is self-attention: with another kdim the keys come from a memory
MHA_CASES = [(bf, causal, kdim) for bf, causal, kdim in itertools.product([False, True], [False, True], [None, 6]) if not (causal and kdim)]


def future():
    """PyTorch's bool causal mask: True where a query may not attend."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


@pytest.mark.parametrize("batch_first,causal,kdim", MHA_CASES)
def test_multihead_attention(batch_first, causal, kdim):
    torch.manual_seed(0)
    module = randomize_biases(torch.nn.MultiheadAttention(D, HEADS, batch_first=batch_first, kdim=kdim, vdim=kdim))
    q = arrays(0, B, T, D)
    kv = q if kdim is None else arrays(1, B, T, kdim)
    attn_mask = future() if causal else None
    with torch.no_grad():
        want, want_w = module(to_torch(q, batch_first), to_torch(kv, batch_first), to_torch(kv, batch_first),
                              key_padding_mask=padding(LENGTHS, T), attn_mask=attn_mask, need_weights=True)
    mha, params = seqjax.from_torch(module)
    got, w = mha(params, jnp.asarray(q), None if kdim is None else jnp.asarray(kv),
                 key_mask=seqjax.sequence_mask(jnp.asarray(LENGTHS), T), causal=causal, return_weights=True)
    np.testing.assert_allclose(got, from_torch_out(want, batch_first), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.mean(np.asarray(w), axis=1), want_w.numpy(), atol=1e-6)  # torch averages the heads


LAYER_CASES = list(itertools.product([False, True], [False, True], ["relu", "gelu"]))


@pytest.mark.parametrize("batch_first,norm_first,activation", LAYER_CASES)
def test_encoder_layer_and_stack(batch_first, norm_first, activation):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.1, activation=activation, batch_first=batch_first,
                                             norm_first=norm_first)
    stack = randomize_biases(torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(D), enable_nested_tensor=False))
    randomize_biases(layer)
    x = arrays(0, B, T, D)
    for module in (layer, stack):
        with torch.no_grad():
            want = module(to_torch(x, batch_first), src_key_padding_mask=padding(LENGTHS, T))
        converted, params = seqjax.from_torch(module)
        got = converted(params, jnp.asarray(x), key_mask=seqjax.sequence_mask(jnp.asarray(LENGTHS), T))
        assert_real_close(got, from_torch_out(want, batch_first), LENGTHS)
    assert converted.layer.dropout == 0.1 and converted.layer.norm_first == norm_first and converted.final_norm


@pytest.mark.parametrize("batch_first,norm_first,activation", LAYER_CASES)
def test_decoder_layer_and_stack(batch_first, norm_first, activation):
    torch.manual_seed(0)
    layer = torch.nn.TransformerDecoderLayer(D, HEADS, FF, activation=activation, batch_first=batch_first, norm_first=norm_first)
    stack = randomize_biases(torch.nn.TransformerDecoder(layer, 2))
    randomize_biases(layer)
    tgt, memory = arrays(0, B, T, D), arrays(1, B, S, D)
    causal = future()
    for module in (layer, stack):
        with torch.no_grad():
            want = module(to_torch(tgt, batch_first), to_torch(memory, batch_first), tgt_mask=causal, tgt_is_causal=True,
                          tgt_key_padding_mask=padding(LENGTHS, T), memory_key_padding_mask=padding(SOURCE_LENGTHS, S))
        converted, params = seqjax.from_torch(module)
        kw = dict(key_mask=seqjax.sequence_mask(jnp.asarray(LENGTHS), T), memory_mask=seqjax.sequence_mask(jnp.asarray(SOURCE_LENGTHS), S))
        got = converted(params, jnp.asarray(tgt), jnp.asarray(memory), **kw)
        got = got[0] if isinstance(got, tuple) else got  # a layer also returns its (absent) cache
        assert_real_close(got, from_torch_out(want, batch_first), LENGTHS)


def test_decoder_cache_matches_torch_step_by_step():
    """Incremental decoding through the KV cache gives PyTorch's full causal pass, position by position."""
    torch.manual_seed(0)
    module = randomize_biases(torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, HEADS, FF, batch_first=True), 2))
    tgt, memory = arrays(0, B, T, D), arrays(1, B, S, D)
    with torch.no_grad():
        want = module(torch.from_numpy(tgt), torch.from_numpy(memory), tgt_mask=future(),
                      tgt_is_causal=True, memory_key_padding_mask=padding(SOURCE_LENGTHS, S)).numpy()
    decoder, params = seqjax.from_torch(module)
    state = decoder.start(params, B, T, jnp.asarray(memory), seqjax.sequence_mask(jnp.asarray(SOURCE_LENGTHS), S))
    for t in range(T):
        state, y = decoder.step(params, state, jnp.asarray(tgt[:, t]))
        np.testing.assert_allclose(y, want[:, t], atol=1e-5, rtol=1e-5)

"""``from_torch`` for PyTorch's attention and transformer modules.

    mha, params = seqjax.from_torch(torch.nn.MultiheadAttention(256, 8, batch_first=True))
    y, w = mha(params, q, kv, key_mask=~key_padding_mask, return_weights=True)   # w: per head; torch averages them

    layer, params = seqjax.from_torch(torch.nn.TransformerEncoderLayer(256, 8, 512, norm_first=True))
    stack, params = seqjax.from_torch(torch.nn.TransformerDecoder(decoder_layer, num_layers=3, norm=LayerNorm(256)))
    y = stack(params, tgt, memory, key_mask=tgt_mask, memory_mask=src_mask)    # = torch with tgt_is_causal

Mapping (PyTorch applies ``x Wᵀ``; seqjax stores ``w = Wᵀ``):
  * ``nn.MultiheadAttention`` -> ``MultiHeadAttention``: ``in_proj_weight`` rows ``[q; k; v]`` (or
    ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ from ``embed_dim``), ``out_proj`` -> ``"o"``;
    ``bias=False`` gives zero biases. ``add_bias_kv``, ``add_zero_attn`` and ``kdim != vdim`` have no
    seqjax counterpart (NotImplementedError).
  * ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` -> ``EncoderLayer`` / ``DecoderLayer``:
    ``self_attn`` and ``multihead_attn`` -> ``"self_attention"``, ``"cross_attention"``;
    ``linear1``, ``linear2`` -> ``"feed_forward"`` ``w1``, ``w2``; ``norm1..3`` -> the sublayers' norms;
    ``norm_first``, ``activation`` (relu or gelu), ``layer_norm_eps`` and the dropout rate carried over.
  * ``nn.TransformerEncoder`` / ``nn.TransformerDecoder`` -> ``Encoder`` / ``Decoder`` (``norm`` -> ``final_norm``).

Masks: PyTorch's ``key_padding_mask`` is True at *padding*; seqjax's ``key_mask`` is True at real
keys (``~key_padding_mask``). A seqjax decoder is always causal, which is PyTorch's decoder
called with ``tgt_mask=nn.Transformer.generate_square_subsequent_mask(t)``. ``batch_first`` only
changes how PyTorch is called: seqjax is batch-major.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from seqjax.multi_head_attention import MultiHeadAttention
from seqjax.transformer import Decoder, DecoderLayer, Encoder, EncoderLayer
from seqjax.types import Params


def _numpy(tensor, shape=None) -> np.ndarray:
    if tensor is None:
        return np.zeros(shape, np.float32)
    return tensor.detach().cpu().float().numpy()


def _linear(module) -> Params:
    return {"w": jnp.asarray(_numpy(module.weight).T), "b": jnp.asarray(_numpy(module.bias, (module.out_features,)))}


def _norm(module) -> Params:
    d = module.normalized_shape[0]
    scale = _numpy(module.weight) if module.weight is not None else np.ones((d,), np.float32)
    return {"scale": jnp.asarray(scale), "bias": jnp.asarray(_numpy(module.bias, (d,)))}


def multihead_attention(module) -> tuple[MultiHeadAttention, Params]:
    if module.bias_k is not None or module.add_zero_attn:
        raise NotImplementedError("from_torch: nn.MultiheadAttention with add_bias_kv or add_zero_attn has no seqjax counterpart")
    if module.kdim != module.vdim:
        raise NotImplementedError(f"from_torch: nn.MultiheadAttention with kdim ({module.kdim}) != vdim ({module.vdim}); "
                                  "seqjax's keys and values read the same memory")
    d = module.embed_dim
    if module._qkv_same_embed_dim:
        wq, wk, wv = np.split(_numpy(module.in_proj_weight), 3)
    else:
        wq, wk, wv = (_numpy(getattr(module, f"{n}_proj_weight")) for n in "qkv")
    bq, bk, bv = np.split(_numpy(module.in_proj_bias, (3 * d,)), 3)
    layer = MultiHeadAttention(d, module.num_heads, kv_features=None if module.kdim == d else module.kdim,
                               dropout=float(module.dropout))
    params = {"q": {"w": jnp.asarray(wq.T), "b": jnp.asarray(bq)}, "k": {"w": jnp.asarray(wk.T), "b": jnp.asarray(bk)},
              "v": {"w": jnp.asarray(wv.T), "b": jnp.asarray(bv)}, "o": _linear(module.out_proj)}
    return layer, params


def _activation(module) -> str:
    import torch
    import torch.nn.functional as F

    act = module.activation
    if act is F.relu or isinstance(act, torch.nn.ReLU):
        return "relu"
    if act is F.gelu or isinstance(act, torch.nn.GELU):
        return "gelu"
    raise NotImplementedError(f"from_torch: a transformer layer's activation must be relu or gelu, got {act!r}")


def _layer(module, kind):
    d = module.linear1.in_features
    fields = dict(d_ff=module.linear1.out_features, dropout=float(module.dropout.p), activation=_activation(module),
                  norm_first=bool(module.norm_first), eps=float(module.norm1.eps))
    attention, self_params = multihead_attention(module.self_attn)
    attention_rate = float(module.self_attn.dropout)
    if attention_rate != fields["dropout"]:
        fields["attention_dropout"] = attention_rate
    params = {"self_attention": self_params, "self_attention_norm": _norm(module.norm1)}
    if kind is DecoderLayer:
        cross, cross_params = multihead_attention(module.multihead_attn)
        fields["memory_size"] = cross.kv_features
        params.update(cross_attention=cross_params, cross_attention_norm=_norm(module.norm2))
        params["feed_forward_norm"] = _norm(module.norm3)
    else:
        params["feed_forward_norm"] = _norm(module.norm2)
    params["feed_forward"] = {"w1": _linear(module.linear1), "w2": _linear(module.linear2)}
    return kind(d, attention.num_heads, **fields), params


def encoder_layer(module) -> tuple[EncoderLayer, Params]:
    return _layer(module, EncoderLayer)


def decoder_layer(module) -> tuple[DecoderLayer, Params]:
    return _layer(module, DecoderLayer)


def _stack(module, kind, layer_kind):
    converted = [_layer(m, layer_kind) for m in module.layers]
    layer = converted[0][0]
    if any(other != layer for other, _ in converted):
        raise NotImplementedError("from_torch: a transformer stack whose layers differ in their hyperparameters")
    params = {"layers": tuple(p for _, p in converted)}
    if module.norm is not None:
        if float(module.norm.eps) != layer.eps:
            raise NotImplementedError(f"from_torch: the stack's final norm has eps {module.norm.eps}, its layers {layer.eps}")
        params["norm"] = _norm(module.norm)
    return kind(layer, len(converted), final_norm=module.norm is not None), params


def encoder(module) -> tuple[Encoder, Params]:
    return _stack(module, Encoder, EncoderLayer)


def decoder(module) -> tuple[Decoder, Params]:
    return _stack(module, Decoder, DecoderLayer)


def convert(module):
    """The converter for ``module``'s type, or None."""
    import torch

    return {torch.nn.MultiheadAttention: multihead_attention, torch.nn.TransformerEncoderLayer: encoder_layer,
            torch.nn.TransformerDecoderLayer: decoder_layer, torch.nn.TransformerEncoder: encoder,
            torch.nn.TransformerDecoder: decoder}.get(type(module))

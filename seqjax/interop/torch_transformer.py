"""``from_torch`` for PyTorch's attention and transformer modules.

    mha, params = seqjax.from_torch(torch.nn.MultiheadAttention(256, 8, batch_first=True))
    y, w = mha(params, q, kv, key_mask=~key_padding_mask, return_weights=True)   # w: per head; torch averages them

    layer, params = seqjax.from_torch(torch.nn.TransformerEncoderLayer(256, 8, 512, norm_first=True))
    stack, params = seqjax.from_torch(torch.nn.TransformerDecoder(decoder_layer, num_layers=3, norm=LayerNorm(256)))
    y = stack(params, tgt, memory, key_mask=tgt_mask, memory_mask=src_mask)    # = torch with tgt_is_causal

Mapping (PyTorch applies ``x Wᵀ``; seqjax stores ``w = Wᵀ``). Every constructor argument of each
module is converted exactly or refused with ``NotImplementedError`` naming it
(tests/test_transformer_parity.py checks each, argument by argument):
  * ``nn.MultiheadAttention`` -> ``MultiHeadAttention``: ``in_proj_weight`` rows ``[q; k; v]`` (or
    ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ from ``embed_dim``), ``out_proj`` -> ``"o"``;
    ``bias=False`` -> ``use_bias=False``; ``dropout`` carried over. Refused: ``add_bias_kv``,
    ``add_zero_attn`` and ``kdim != vdim`` (seqjax's keys and values read one memory).
  * ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` -> ``EncoderLayer`` / ``DecoderLayer``:
    ``self_attn`` and ``multihead_attn`` -> ``"self_attention"``, ``"cross_attention"``;
    ``linear1``, ``linear2`` -> ``"feed_forward"`` ``w1``, ``w2``; ``norm1..3`` -> the sublayers' norms;
    ``norm_first``, ``layer_norm_eps`` and the dropout rates carried over; ``activation`` "relu",
    "gelu", ``F.relu``, ``F.gelu``, ``nn.ReLU()``, ``nn.GELU()`` and ``nn.GELU(approximate="tanh")``
    (-> "gelu_tanh"). ``bias=False`` gives zero biases (the same function; seqjax's layer keeps
    them as parameters). Refused: any other activation, dropout modules or norms that differ
    from one another (set by hand after construction), a norm that is not ``nn.LayerNorm``.
  * ``nn.TransformerEncoder`` / ``nn.TransformerDecoder`` -> ``Encoder`` / ``Decoder`` (``norm`` -> ``final_norm``);
    ``enable_nested_tensor`` and ``mask_check`` change PyTorch's speed only. Refused: layers that
    differ from one another, a final norm of another ``eps`` or type.
  * ``batch_first`` and ``device`` change how PyTorch is called only; ``dtype`` must be float32
    (refused otherwise: convert with ``module.float()`` first).

Masks: PyTorch's ``key_padding_mask`` is True at *padding*; seqjax's ``key_mask`` is True at real
keys (``~key_padding_mask``). A seqjax decoder is always causal, which is PyTorch's decoder
called with ``tgt_mask=nn.Transformer.generate_square_subsequent_mask(t)``. ``batch_first`` only
changes how PyTorch is called: seqjax is batch-major.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from seqjax.interop.torch import check_float32, refuse
from seqjax.attention.multi_head import MultiHeadAttention
from seqjax.attention.transformer import Decoder, DecoderLayer, Encoder, EncoderLayer
from seqjax.core.types import Params


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
    check_float32(module)
    if module.bias_k is not None:
        refuse(module, "add_bias_kv", "a learned key and value appended to every sequence has no seqjax counterpart")
    if module.add_zero_attn:
        refuse(module, "add_zero_attn", "a zero key and value appended to every sequence has no seqjax counterpart")
    if module.kdim != module.vdim:
        refuse(module, "vdim", f"kdim ({module.kdim}) != vdim ({module.vdim}): seqjax's keys and values read the same memory")
    d = module.embed_dim
    if module._qkv_same_embed_dim:
        wq, wk, wv = np.split(_numpy(module.in_proj_weight), 3)
    else:
        wq, wk, wv = (_numpy(getattr(module, f"{n}_proj_weight")) for n in "qkv")
    use_bias = module.in_proj_bias is not None
    layer = MultiHeadAttention(d, module.num_heads, kv_features=None if module.kdim == d else module.kdim,
                               dropout=float(module.dropout), use_bias=use_bias)
    params = {"q": {"w": jnp.asarray(wq.T)}, "k": {"w": jnp.asarray(wk.T)}, "v": {"w": jnp.asarray(wv.T)},
              "o": _linear(module.out_proj)}
    if use_bias:
        for name, b in zip("qkv", np.split(_numpy(module.in_proj_bias), 3)):
            params[name]["b"] = jnp.asarray(b)
    else:
        del params["o"]["b"]
    return layer, params


def _activation(module) -> str:
    import functools

    import torch
    import torch.nn.functional as F

    act = module.activation
    if act is F.relu or isinstance(act, torch.nn.ReLU):
        return "relu"
    if isinstance(act, torch.nn.GELU) and act.approximate in ("none", "tanh"):
        return "gelu" if act.approximate == "none" else "gelu_tanh"
    if act is F.gelu:
        return "gelu"
    if isinstance(act, functools.partial) and act.func is F.gelu and not act.args and set(act.keywords) <= {"approximate"}:
        return {"none": "gelu", "tanh": "gelu_tanh"}.get(act.keywords.get("approximate", "none")) or refuse(
            module, "activation", f"gelu with approximate={act.keywords['approximate']!r}")
    refuse(module, "activation", f"seqjax's feed-forward has relu, gelu and gelu with the tanh approximation, got {act!r}")


def _one(module, argument: str, values: dict[str, float]):
    """The value that every named submodule shares, or a refusal naming the ones that differ."""
    if len(set(values.values())) > 1:
        refuse(module, argument, f"seqjax's layer has one value where these differ: {values}")
    return next(iter(values.values()))


def _layer(module, kind):
    import torch

    check_float32(module)
    d = module.linear1.in_features
    norms = {name: getattr(module, name) for name in ("norm1", "norm2", "norm3") if hasattr(module, name)}
    for name, norm in norms.items():
        if type(norm) is not torch.nn.LayerNorm or len(norm.normalized_shape) != 1:
            refuse(module, "layer_norm_eps", f"{name} is {norm!r}, not a LayerNorm over the last axis")
    residual = {name: float(getattr(module, name).p) for name in ("dropout", "dropout1", "dropout2", "dropout3") if hasattr(module, name)}
    attentions = {name: float(getattr(module, name).dropout) for name in ("self_attn", "multihead_attn") if hasattr(module, name)}
    fields = dict(d_ff=module.linear1.out_features, dropout=_one(module, "dropout", residual), activation=_activation(module),
                  norm_first=bool(module.norm_first), eps=float(_one(module, "layer_norm_eps", {n: m.eps for n, m in norms.items()})))
    attention_rate = _one(module, "dropout", attentions)
    if attention_rate != fields["dropout"]:
        fields["attention_dropout"] = attention_rate
    attention, self_params = multihead_attention(module.self_attn)
    self_params = _with_biases(attention, self_params)
    params = {"self_attention": self_params, "self_attention_norm": _norm(module.norm1)}
    if kind is DecoderLayer:
        cross, cross_params = multihead_attention(module.multihead_attn)
        fields["memory_size"] = cross.kv_features
        params.update(cross_attention=_with_biases(cross, cross_params), cross_attention_norm=_norm(module.norm2))
        params["feed_forward_norm"] = _norm(module.norm3)
    else:
        params["feed_forward_norm"] = _norm(module.norm2)
    params["feed_forward"] = {"w1": _linear(module.linear1), "w2": _linear(module.linear2)}
    return kind(d, attention.num_heads, **fields), params


def _with_biases(attention: MultiHeadAttention, params: Params) -> Params:
    """A layer's attention always has biases: ``bias=False`` becomes zero biases (the same function)."""
    if attention.use_bias:
        return params
    return {name: {"w": p["w"], "b": jnp.zeros((p["w"].shape[1],), p["w"].dtype)} for name, p in params.items()}


def encoder_layer(module) -> tuple[EncoderLayer, Params]:
    return _layer(module, EncoderLayer)


def decoder_layer(module) -> tuple[DecoderLayer, Params]:
    return _layer(module, DecoderLayer)


def _stack(module, kind, layer_kind):
    converted = [_layer(m, layer_kind) for m in module.layers]
    layer = converted[0][0]
    if any(other != layer for other, _ in converted):
        refuse(module, "num_layers", "its layers differ in their hyperparameters; seqjax's stack repeats one layer")
    params = {"layers": tuple(p for _, p in converted)}
    if module.norm is not None:
        import torch

        if type(module.norm) is not torch.nn.LayerNorm or len(module.norm.normalized_shape) != 1:
            refuse(module, "norm", f"seqjax's final norm is a LayerNorm over the last axis, got {module.norm!r}")
        if float(module.norm.eps) != layer.eps:
            refuse(module, "norm", f"the final norm has eps {module.norm.eps}, its layers {layer.eps}; seqjax's stack has one eps")
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

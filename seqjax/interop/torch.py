"""``from_torch``: seqjax objects and parameters equal to PyTorch modules (recurrent layers and
cells, ``Linear``, ``Embedding``, ``LayerNorm``; attention and transformer layers in
``torch_transformer.py``).

    >>> xs = jnp.ones((4, 10, 8))
    >>> lstm = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    >>> cell, params = seqjax.from_torch(lstm)
    >>> ys, state = seqjax.unroll(cell, params, xs)          # xs [b, t, 8] -> ys [b, t, 32]
    >>> h_n, c_n = seqjax.torch_final_state(state)             # [num_layers * 2, b, 16] each

Mapping (PyTorch stores ``W_ih [g·h, d]`` and applies ``x W_ihᵀ``; seqjax stores ``wx = W_ihᵀ``):
  * ``nn.RNN``  -> ``Elman(activation=nonlinearity)``, ``b = b_ih + b_hh``
  * ``nn.GRU``  -> ``GRU(reset_after=True)``, gate order (r, z, n) in both; the r and z biases
    are summed, ``b_in`` stays in ``b`` and ``b_hn`` becomes ``bh`` (it sits inside the reset)
  * ``nn.LSTM`` -> ``LSTM(forget_bias=0)``, gate order (i, f, g, o) in both, ``b = b_ih + b_hh``
  * ``num_layers > 1`` -> ``Stack`` (with the module's inter-layer ``dropout`` rate, active only
    when ``unroll`` gets a ``key``); ``bidirectional`` -> ``Bidirectional`` layers (concat).
  * ``nn.RNNCell``, ``nn.GRUCell``, ``nn.LSTMCell`` -> the same cells, one ``step`` per call
  * ``nn.Linear`` -> ``Dense`` (``w = weightᵀ``), ``nn.Embedding`` -> ``Embedding`` (``padding_idx``
    -> ``padding_id``), ``nn.LayerNorm`` -> ``LayerNorm``
``batch_first`` and ``device`` only change how PyTorch is called: ``seqjax.unroll`` is always
batch-major. Every other constructor argument is converted exactly (``bias=False``: zero biases,
the same function) or refused with ``NotImplementedError`` naming it: ``proj_size > 0`` (LSTMP),
a ``dtype`` other than float32 (call ``module.float()`` first), ``nn.Embedding``'s ``max_norm``
(it rescales rows at lookup) and ``scale_grad_by_freq`` (another gradient), and a ``padding_idx``
whose row is not zero (PyTorch returns the row; seqjax's padding vector is always zero).
``sparse`` only changes how PyTorch stores the gradient; a frozen table (``_freeze``,
``from_pretrained(freeze=True)``) gives ``trainable=False``. tests/test_torch_parity.py checks
every argument.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from seqjax.cells.protocol import Cell
from seqjax.cells.elman import Elman
from seqjax.cells.gru import GRU
from seqjax.cells.lstm import LSTM
from seqjax.layers import Dense, Embedding, LayerNorm
from seqjax.core.types import Array, Params, State
from seqjax.sequences.wrappers import Bidirectional, BidirectionalState, Stack


def _array(module, name: str, shape: tuple[int, ...]) -> np.ndarray:
    tensor = getattr(module, name, None)
    if tensor is None:  # bias=False
        return np.zeros(shape, np.float32)
    return tensor.detach().cpu().float().numpy()


def _layer(module, kind: str, names: str, input_size: int) -> tuple[Cell, Params]:
    """One layer and direction: ``names`` is the weights' suffix ("_l0", "_l1_reverse"; "" for the *Cell modules)."""
    h = module.hidden_size
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    w_ih = _array(module, f"weight_ih{names}", (gates * h, input_size))
    w_hh = _array(module, f"weight_hh{names}", (gates * h, h))
    b_ih = _array(module, f"bias_ih{names}", (gates * h,))
    b_hh = _array(module, f"bias_hh{names}", (gates * h,))
    params = {"wx": jnp.asarray(w_ih.T), "wh": jnp.asarray(w_hh.T), "b": jnp.asarray(b_ih + b_hh)}
    if kind == "RNN":
        cell = Elman(input_size, h, activation=module.nonlinearity)
    elif kind == "GRU":
        cell = GRU(input_size, h, reset_after=True)
        params["b"] = jnp.asarray(np.concatenate([b_ih[: 2 * h] + b_hh[: 2 * h], b_ih[2 * h :]]))
        params["bh"] = jnp.asarray(b_hh[2 * h :])
    else:
        cell = LSTM(input_size, h, forget_bias=0.0)
    return cell, params


def refuse(module, argument: str, why: str):
    """The one wording of a conversion that would change the model: ``Module(argument=...): why``."""
    raise NotImplementedError(f"from_torch: {type(module).__name__}({argument}=...): {why}")


def check_float32(module) -> None:
    import torch

    for name, p in module.named_parameters():
        if p.dtype != torch.float32:
            refuse(module, "dtype", f"parameter {name} is {p.dtype}; seqjax converts float32 modules (call module.float() first)")


def _embedding(module) -> tuple[Embedding, Params]:
    if module.max_norm is not None:
        refuse(module, "max_norm", f"max_norm={module.max_norm} rescales rows at lookup; seqjax's Embedding does not")
    if module.scale_grad_by_freq:
        refuse(module, "scale_grad_by_freq", "it scales gradients by word frequency; seqjax's gradient is the plain one")
    table = _array(module, "weight", ())
    if module.padding_idx is not None and np.any(table[module.padding_idx] != 0):
        refuse(module, "padding_idx", f"row {module.padding_idx} is not zero: PyTorch returns it, while seqjax's padding "
                                       "vector is always zero (zero the row, or pass padding_idx=None)")
    layer = Embedding(module.num_embeddings, module.embedding_dim, padding_id=module.padding_idx,
                      trainable=module.weight.requires_grad)  # from_pretrained(freeze=True) and _freeze
    return layer, {"table": jnp.asarray(table)}


def _leaf(module):
    """``nn.Linear`` -> ``Dense``, ``nn.Embedding`` -> ``Embedding``, ``nn.LayerNorm`` -> ``LayerNorm``; None otherwise."""
    import torch

    if isinstance(module, torch.nn.Linear):
        layer = Dense(module.in_features, module.out_features, use_bias=module.bias is not None)
        params = {"w": jnp.asarray(_array(module, "weight", ()).T)}
        if module.bias is not None:
            params["b"] = jnp.asarray(_array(module, "bias", ()))
        return layer, params
    if isinstance(module, torch.nn.Embedding):
        return _embedding(module)
    if isinstance(module, torch.nn.LayerNorm):
        if len(module.normalized_shape) != 1:
            refuse(module, "normalized_shape", f"{tuple(module.normalized_shape)} normalises more than the last axis")
        layer = LayerNorm(module.normalized_shape[0], eps=module.eps, use_scale=module.weight is not None,
                          use_bias=module.bias is not None)
        params = {}
        if module.weight is not None:
            params["scale"] = jnp.asarray(_array(module, "weight", ()))
        if module.bias is not None:
            params["bias"] = jnp.asarray(_array(module, "bias", ()))
        return layer, params
    return None


def from_torch(module) -> tuple[Cell, Params]:
    """Converts a PyTorch module to ``(seqjax object, params)`` computing the same function:

      * ``nn.RNN``, ``nn.GRU``, ``nn.LSTM`` (any ``num_layers``, ``bidirectional``, ``batch_first``,
        ``bias``): a cell whose ``unroll`` outputs equal the module's;
      * ``nn.RNNCell``, ``nn.GRUCell``, ``nn.LSTMCell``: a cell whose ``step`` equals the module's call
        (the state ``h``, or ``LSTMState(h, c)`` for PyTorch's ``(h, c)``);
      * ``nn.Linear``, ``nn.Embedding`` (with ``padding_idx``), ``nn.LayerNorm``: ``Dense``,
        ``Embedding``, ``LayerNorm``;
      * ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``, ``nn.TransformerDecoderLayer``,
        ``nn.TransformerEncoder``, ``nn.TransformerDecoder``: ``MultiHeadAttention``, ``EncoderLayer``,
        ``DecoderLayer``, ``Encoder``, ``Decoder`` (``seqjax.interop.torch_transformer``).
    """
    import torch

    from seqjax.interop import torch_transformer

    if isinstance(module, torch.nn.Module):
        check_float32(module)
    leaf = _leaf(module)
    if leaf is not None:
        return leaf
    if (convert := torch_transformer.convert(module)) is not None:
        return convert(module)
    cells = {torch.nn.RNNCell: "RNN", torch.nn.GRUCell: "GRU", torch.nn.LSTMCell: "LSTM"}
    if type(module) in cells:
        return _layer(module, cells[type(module)], "", module.input_size)
    kinds = {torch.nn.RNN: "RNN", torch.nn.GRU: "GRU", torch.nn.LSTM: "LSTM"}
    kind = kinds.get(type(module))
    if kind is None:
        raise TypeError(f"from_torch expects torch.nn.RNN, GRU, LSTM, their *Cell modules, Linear, Embedding, LayerNorm, "
                        f"MultiheadAttention or a Transformer{{Encoder,Decoder}}[Layer], "
                        f"got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        refuse(module, "proj_size", f"proj_size={module.proj_size} (LSTMP) has no seqjax cell yet")
    directions = 2 if module.bidirectional else 1
    layers, params = [], []
    for layer in range(module.num_layers):
        input_size = module.input_size if layer == 0 else module.hidden_size * directions
        fwd, p_fwd = _layer(module, kind, f"_l{layer}", input_size)
        if module.bidirectional:
            bwd, p_bwd = _layer(module, kind, f"_l{layer}_reverse", input_size)
            layers.append(Bidirectional(fwd, bwd, merge="concat"))
            params.append({"forward": p_fwd, "backward": p_bwd})
        else:
            layers.append(fwd)
            params.append(p_fwd)
    if len(layers) == 1:
        return layers[0], params[0]
    return Stack(tuple(layers), dropout=float(module.dropout)), tuple(params)


def torch_final_state(state: State) -> Array | tuple[Array, Array]:
    """The final state of a ``from_torch`` cell in PyTorch's layout: ``h_n`` (RNN, GRU) or
    ``(h_n, c_n)`` (LSTM), each ``[num_layers * directions, b, h]``."""
    layers = state.layers if hasattr(state, "layers") else (state,)
    flat = []
    for s in layers:
        flat.extend([s.forward, s.backward] if isinstance(s, BidirectionalState) else [s])
    h = jnp.stack([s.h for s in flat])
    if hasattr(flat[0], "c"):
        return h, jnp.stack([s.c for s in flat])
    return h

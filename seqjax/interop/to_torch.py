"""``to_torch``: the reverse of ``from_torch``, for users who train with seqjax and deploy with PyTorch.

    module = seqjax.to_torch(cell, params)          # nn.LSTM(..., batch_first=True) with the same weights
    ys, _ = module(torch.from_numpy(np.asarray(xs)))    # equals seqjax.unroll(cell, params, xs)[0]

What converts (everything ``from_torch`` produces, so seqjax -> torch -> seqjax is the identity):
  * ``Elman`` (tanh or relu, no output layer) -> ``nn.RNN``; ``GRU(reset_after=True)`` -> ``nn.GRU``;
    ``LSTM`` (any ``forget_bias``: it lives in ``b``) -> ``nn.LSTM``. The summed bias goes to
    ``bias_ih`` and ``bias_hh`` is zero, except the GRU's ``bh`` (PyTorch's ``b_hn``).
  * ``Bidirectional(f, b, merge="concat")`` of such a cell -> ``bidirectional=True``;
    ``Stack`` of such layers with equal hidden sizes and no residuals -> ``num_layers`` (with
    the stack's ``dropout``).
  * ``Dense`` -> ``nn.Linear``, ``Embedding`` -> ``nn.Embedding`` (``padding_id`` -> ``padding_idx``),
    ``LayerNorm`` -> ``nn.LayerNorm``.
  * Every field is converted or refused: ``Embedding(trainable=False)`` -> ``requires_grad=False``;
    ``param_dtype`` -> float32 (exact for float32 and narrower types); ``kernel_init`` and
    ``stddev`` only initialise. Anything PyTorch has no module for (a reset-before GRU, GRU/LSTM
    activations other than tanh, ``Dense`` with an activation, peephole or prototype LSTMs, MinGRU,
    residual stacks, sum-merged bidirectional layers, Jordan nets) raises ``TypeError`` saying why.
Modules are float32 and ``batch_first=True``, seqjax's layout.
"""

from __future__ import annotations

import numpy as np

from seqjax.cells.elman import Elman
from seqjax.cells.gru import GRU
from seqjax.cells.lstm import LSTM
from seqjax.layers import Dense, Embedding, LayerNorm
from seqjax.sequences.wrappers import Bidirectional, Stack

KINDS = {Elman: "RNN", GRU: "GRU", LSTM: "LSTM"}


def _kind(cell) -> str:
    kind = KINDS.get(type(cell))
    if kind is None:
        raise TypeError(f"to_torch: PyTorch has no recurrent module for {type(cell).__name__}; "
                        f"it converts Elman, GRU(reset_after=True) and LSTM (and wrappers of them)")
    if isinstance(cell, GRU) and not cell.reset_after:
        raise TypeError("to_torch: torch.nn.GRU applies the reset after the recurrent matmul; a GRU(reset_after=False) "
                        "computes another function")
    if isinstance(cell, Elman) and (cell.output_size is not None or cell.activation not in ("tanh", "relu")):
        raise TypeError(f"to_torch: nn.RNN has tanh or relu and no output layer; got {cell}")
    if isinstance(cell, (GRU, LSTM)) and cell.activation != "tanh":
        raise TypeError(f"to_torch: torch.nn.{kind}'s candidate activation is tanh; got {type(cell).__name__}(activation={cell.activation!r})")
    return kind


def _layers(cell) -> list[tuple[object, ...]]:
    """``[(forward cell, backward cell or None), ...]`` per layer, and the stack's dropout."""
    layers = cell.layers if isinstance(cell, Stack) else (cell,)
    if isinstance(cell, Stack) and cell.residual_from is not None:
        raise TypeError("to_torch: torch.nn.RNN/GRU/LSTM have no residual connections (Stack.residual_from)")
    out = []
    for layer in layers:
        if isinstance(layer, Bidirectional):
            if layer.merge != "concat":
                raise TypeError(f"to_torch: PyTorch concatenates the two directions; got merge={layer.merge!r}")
            out.append((layer.forward, layer.backward if layer.backward is not None else layer.forward))
        else:
            out.append((layer, None))
    kinds = {_kind(c) for pair in out for c in pair if c is not None}
    if len(kinds) > 1 or len({b is None for _, b in out}) > 1 or len({f.hidden_size for f, _ in out}) > 1:
        raise TypeError("to_torch: a PyTorch recurrent module has one kind of cell, one hidden size and one direction "
                        "setting for all its layers")
    return out


def _copy(tensor, value) -> None:
    import torch

    value = np.array(value, np.float32)  # a writable copy
    if tuple(tensor.shape) != value.shape:
        raise ValueError(f"to_torch: a parameter of shape {value.shape} does not fit {tuple(tensor.shape)}")
    with torch.no_grad():
        tensor.copy_(torch.from_numpy(value))


def _fill_layer(module, suffix: str, cell, params) -> None:
    h = cell.hidden_size
    _copy(getattr(module, f"weight_ih{suffix}"), np.asarray(params["wx"]).T)
    _copy(getattr(module, f"weight_hh{suffix}"), np.asarray(params["wh"]).T)
    b = np.asarray(params["b"], np.float32)
    b_hh = np.zeros_like(b)
    if isinstance(cell, GRU):
        b_hh[2 * h:] = np.asarray(params["bh"])
    _copy(getattr(module, f"bias_ih{suffix}"), b)
    _copy(getattr(module, f"bias_hh{suffix}"), b_hh)


def to_torch(cell, params):
    """A float32 ``torch.nn`` module computing what ``cell`` does with ``params`` (see the module doc)."""
    import torch

    if isinstance(cell, Dense):
        if cell.activation != "identity":
            raise TypeError(f"to_torch: nn.Linear has no activation; got Dense(activation={cell.activation!r}) "
                            "(convert Dense(activation='identity') and add the activation module)")
        module = torch.nn.Linear(cell.in_features, cell.out_features, bias=cell.use_bias)
        _copy(module.weight, np.asarray(params["w"]).T)
        if cell.use_bias:
            _copy(module.bias, params["b"])
        return module
    if isinstance(cell, Embedding):
        module = torch.nn.Embedding(cell.vocab_size, cell.features, padding_idx=cell.padding_id)
        table = np.array(params["table"], np.float32)
        if cell.padding_id is not None:
            table[cell.padding_id] = 0  # seqjax's padding vector is zero whatever the row holds; PyTorch returns the row
        _copy(module.weight, table)
        module.weight.requires_grad_(cell.trainable)
        return module
    if isinstance(cell, LayerNorm):
        # PyTorch has no scale-less norm with a bias: a scale of ones that never trains is the same layer
        affine = cell.use_scale or cell.use_bias
        module = torch.nn.LayerNorm(cell.features, eps=cell.eps, elementwise_affine=affine, bias=cell.use_bias)
        if cell.use_scale:
            _copy(module.weight, params["scale"])
        elif affine:
            module.weight.requires_grad_(False)
        if cell.use_bias:
            _copy(module.bias, params["bias"])
        return module
    layers = _layers(cell)
    first = layers[0][0]
    kind, bidirectional = _kind(first), layers[0][1] is not None
    options = dict(num_layers=len(layers), bidirectional=bidirectional, batch_first=True,
                   dropout=float(cell.dropout) if isinstance(cell, Stack) else 0.0)
    if kind == "RNN":
        options["nonlinearity"] = first.activation
    module = getattr(torch.nn, kind)(first.input_size, first.hidden_size, **options)
    layer_params = params if isinstance(cell, Stack) else (params,)
    for index, ((forward, backward), p) in enumerate(zip(layers, layer_params)):
        if backward is None:
            _fill_layer(module, f"_l{index}", forward, p)
        else:
            _fill_layer(module, f"_l{index}", forward, p["forward"])
            _fill_layer(module, f"_l{index}_reverse", backward, p["backward"])
    return module

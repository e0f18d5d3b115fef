"""Every cell with its NumPy oracle: the product the cell tests sweep over."""

import functools

import seqjax
from tests import reference as ref

D, H, O = 3, 4, 2

CELLS = {
    "elman_tanh": (seqjax.Elman(D, H), ref.elman_step),
    "elman_relu": (seqjax.Elman(D, H, activation="relu"), functools.partial(ref.elman_step, act="relu")),
    "elman_softmax_out": (seqjax.Elman(D, H, output_size=O, output_activation="softmax"),
                          functools.partial(ref.elman_step, out_act="softmax", output=True)),
    "jordan": (seqjax.Jordan(D, H, O, output_activation="sigmoid"), functools.partial(ref.jordan_step, out_act="sigmoid")),
    "gru": (seqjax.GRU(D, H), ref.gru_step),
    "gru_reset_after": (seqjax.GRU(D, H, reset_after=True), functools.partial(ref.gru_step, reset_after=True)),
    "lstm": (seqjax.LSTM(D, H), ref.lstm_step),
    "prototype_lstm": (seqjax.PrototypeLSTM(D, H), ref.prototype_lstm_step),
    "peephole_lstm": (seqjax.PeepholeLSTM(D, H), ref.peephole_lstm_step),
    "min_gru": (seqjax.MinGRU(D, H, mode="associative"), ref.min_gru_step),
    "min_gru_sequential": (seqjax.MinGRU(D, H, mode="sequential"), ref.min_gru_step),
    "min_lstm": (seqjax.MinLSTM(D, H, mode="associative"), ref.min_lstm_step),
    "min_lstm_sequential": (seqjax.MinLSTM(D, H, mode="sequential"), ref.min_lstm_step),
    "hopfield": (seqjax.Hopfield(D), ref.hopfield_step),
}

# The exact parameter tree of every cell: a change here is an API change.
PARAM_SHAPES = {
    "elman_tanh": {"wx": (D, H), "wh": (H, H), "b": (H,)},
    "elman_relu": {"wx": (D, H), "wh": (H, H), "b": (H,)},
    "elman_softmax_out": {"wx": (D, H), "wh": (H, H), "b": (H,), "wy": (H, O), "by": (O,)},
    "jordan": {"wx": (D, H), "wh": (O, H), "b": (H,), "wy": (H, O), "by": (O,)},
    "gru": {"wx": (D, 3 * H), "wh": (H, 3 * H), "b": (3 * H,)},
    "gru_reset_after": {"wx": (D, 3 * H), "wh": (H, 3 * H), "b": (3 * H,), "bh": (H,)},
    "lstm": {"wx": (D, 4 * H), "wh": (H, 4 * H), "b": (4 * H,)},
    "prototype_lstm": {"wx": (D, 4 * H), "wh": (H, 4 * H), "b": (4 * H,)},
    "peephole_lstm": {"wx": (D, 4 * H), "wh": (H, 4 * H), "b": (4 * H,), "peephole": (3, H)},
    "min_gru": {"wx": (D, 2 * H), "b": (2 * H,)},
    "min_gru_sequential": {"wx": (D, 2 * H), "b": (2 * H,)},
    "min_lstm": {"wx": (D, 3 * H), "b": (3 * H,)},
    "min_lstm_sequential": {"wx": (D, 3 * H), "b": (3 * H,)},
    "hopfield": {"w": (D, D), "b": (D,)},
}


def params_for(name, cell, key):
    """Random parameters; Hopfield's init is an empty memory, so give it random symmetric weights."""
    import jax

    params = cell.init(key)
    if name == "hopfield":
        w = jax.random.normal(key, (D, D))
        params = {"w": (w + w.T) / 2, "b": jax.random.normal(jax.random.fold_in(key, 1), (D,)) * 0.1}
    return params

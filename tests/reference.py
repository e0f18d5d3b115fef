"""Naive NumPy oracles, written from each cell's equations (float64, one example at a time).

Each ``*_step(p, s, x)`` takes NumPy parameters, a state tuple and one input vector
and returns ``(state, y)``; ``run`` loops a step over a sequence. Nothing here is
vectorised or fused: the point is to be obviously right.
"""

import numpy as np


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


ACT = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0), "identity": lambda v: v,
       "sigmoid": sigmoid, "softmax": lambda v: np.exp(v - v.max()) / np.exp(v - v.max()).sum()}


def blocks(w, n, count):
    """Splits the last axis into ``count`` blocks of width ``n``."""
    return [w[..., i * n:(i + 1) * n] for i in range(count)]


def elman_step(p, s, x, act="tanh", out_act="identity", output=False):
    (h,) = s
    h = ACT[act](x @ p["wx"] + h @ p["wh"] + p["b"])
    y = ACT[out_act](h @ p["wy"] + p["by"]) if output else h
    return (h,), y


def basic_rnn_step(w_a, b_a, h, x):
    """The lectures' form: h_t = tanh(W_A (x_t ⊕ h_{t-1}) + b_A), W_A of shape [h, d + h]."""
    return np.tanh(w_a @ np.concatenate([x, h]) + b_a)


def jordan_step(p, s, x, act="tanh", out_act="identity"):
    (y_prev,) = s
    h = ACT[act](x @ p["wx"] + y_prev @ p["wh"] + p["b"])
    y = ACT[out_act](h @ p["wy"] + p["by"])
    return (y,), y


def gru_step(p, s, x, reset_after=False):
    (h,) = s
    n = h.shape[-1]
    ur, uz, u = blocks(p["wx"], n, 3)
    wr, wz, w = blocks(p["wh"], n, 3)
    br, bz, b = blocks(p["b"], n, 3)
    r = sigmoid(x @ ur + h @ wr + br)
    z = sigmoid(x @ uz + h @ wz + bz)
    if reset_after:
        cand = np.tanh(x @ u + b + r * (h @ w + p["bh"]))
    else:
        cand = np.tanh((r * h) @ w + x @ u + b)
    h = z * h + (1 - z) * cand
    return (h,), h


def lstm_step(p, s, x):
    h, c = s
    n = h.shape[-1]
    ui, uf, ug, uo = blocks(p["wx"], n, 4)
    wi, wf, wg, wo = blocks(p["wh"], n, 4)
    bi, bf, bg, bo = blocks(p["b"], n, 4)
    i = sigmoid(x @ ui + h @ wi + bi)
    f = sigmoid(x @ uf + h @ wf + bf)
    g = np.tanh(x @ ug + h @ wg + bg)
    o = sigmoid(x @ uo + h @ wo + bo)
    c = f * c + i * g
    h = o * np.tanh(c)
    return (h, c), h


def prototype_lstm_step(p, s, x):
    (st,) = s
    n = st.shape[-1]
    ui, uf, uo, u = blocks(p["wx"], n, 4)
    wi, wf, wo, w = blocks(p["wh"], n, 4)
    bi, bf, bo, b = blocks(p["b"], n, 4)
    i = sigmoid(x @ ui + st @ wi + bi)
    f = sigmoid(x @ uf + st @ wf + bf)
    o = sigmoid(x @ uo + st @ wo + bo)
    cand = np.tanh((o * st) @ w + x @ u + b)
    st = f * st + i * cand
    return (st,), st


def peephole_lstm_step(p, s, x):
    h, c = s
    n = h.shape[-1]
    ui, uf, ug, uo = blocks(p["wx"], n, 4)
    wi, wf, wg, wo = blocks(p["wh"], n, 4)
    bi, bf, bg, bo = blocks(p["b"], n, 4)
    pi, pf, po = p["peephole"]
    i = sigmoid(x @ ui + h @ wi + pi * c + bi)
    f = sigmoid(x @ uf + h @ wf + pf * c + bf)
    g = np.tanh(x @ ug + h @ wg + bg)
    c = f * c + i * g
    o = sigmoid(x @ uo + h @ wo + po * c + bo)
    h = o * np.tanh(c)
    return (h, c), h


def min_gru_step(p, s, x):
    (h,) = s
    n = h.shape[-1]
    wz, wh = blocks(p["wx"], n, 2)
    bz, bh = blocks(p["b"], n, 2)
    z = sigmoid(x @ wz + bz)
    h = (1 - z) * h + z * (x @ wh + bh)
    return (h,), h


def min_lstm_step(p, s, x):
    (h,) = s
    n = h.shape[-1]
    wf, wi, wh = blocks(p["wx"], n, 3)
    bf, bi, bh = blocks(p["b"], n, 3)
    f, i = sigmoid(x @ wf + bf), sigmoid(x @ wi + bi)
    h = f / (f + i) * h + i / (f + i) * (x @ wh + bh)
    return (h,), h


def hopfield_step(p, s, u):
    (a,) = s
    a = np.clip(a @ p["w"] + p["b"] + u, -1, 1)
    return (a,), a


def run(step, params, xs, state, length=None, out_dim=None):
    """Runs one example: xs [t, d]; steps at t >= ``length`` are skipped and output zeros [out_dim]."""
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    state = tuple(np.asarray(v, np.float64) for v in state)
    ys = []
    for t, x in enumerate(np.asarray(xs, np.float64)):
        if length is not None and t >= length:
            ys.append(np.zeros(out_dim))
            continue
        state, y = step(params, state, x)
        ys.append(y)
    return np.stack(ys), state

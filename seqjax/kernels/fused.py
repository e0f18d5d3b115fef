"""Fast paths of the LSTM and GRU: scans with hand-written backward passes (``jax.custom_vjp``).

Autodiff of ``lax.scan`` accumulates every weight gradient inside the backward loop:
each step adds ``h_{t-1}ᵀ dz_t`` (a thin ``[h, b] x [b, 4h]`` matmul) into ``dW_h``. This
backward loop carries only the state gradients ``(dh, dc)`` and emits the gate
gradients ``dz_t``; after the loop every weight gradient is a large matmul over all
``t·b`` rows at once (the GRU's: one per gate block, so its gate gradients are never concatenated)::

    dW_h = H_prevᵀ dZ      dW_x = Xᵀ dZ      db = Σ dZ      dX = dZ W_xᵀ

The recurrences and their parameters are exactly those of ``seqjax.LSTM`` and
``seqjax.GRU`` (both forms): same tree, same gate order, same masking semantics (a
step past a sequence's length keeps the state and outputs zero). ``LSTM.scan`` and
``GRU.scan`` use them when ``ScanOptions(fused=True)`` (the default) and the
activation is tanh. tests/test_fused.py compares them with autodiff of the readable
step and with ``check_grads``.

LSTM backward of one valid step, from ``c_t = f c_{t-1} + i g`` and ``h_t = o tanh(c_t)``::

    dh   = dy_t + dh_{t+1}             do = dh · tanh(c_t)
    dc   = dc_{t+1} + dh · o · (1 - tanh²(c_t))
    di = dc · g    df = dc · c_{t-1}    dg = dc · i
    dz = [di·i(1-i), df·f(1-f), dg·(1-g²), do·o(1-o)]
    dh_{t-1} = dz W_hᵀ                  dc_{t-1} = dc · f

The forward pass saves the factors that multiply ``dc`` or ``dh`` in these lines,
``[g·i(1-i), c_{t-1}·f(1-f), i(1-g²), tanh(c_t)·o(1-o)]``, ``f`` and ``o(1-tanh²(c_t))``,
so each backward step is ``dc = dc_{t+1} + dh·o(1-tanh²(c_t))`` and one product over
``[4, h, b]``: no transcendental functions and no concatenation in the backward loop (XLA's
CPU code for the concatenation inside the loop was partly scalar, not vectorised). That is
6h floats per step instead of the 5h of gates and cell state, and measured 2-5% faster
training steps.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from seqjax.layers.dense import dense
from seqjax.core.types import Array, Params


def _swap(a: Array) -> Array:
    """``[t, b, k] <-> [t, k, b]``: batch-major rows to the loop's feature-major columns."""
    return jnp.swapaxes(a, 1, 2)


def _rows(a: Array) -> Array:
    """``[t, b, k] -> [t·b, k]``."""
    return a.reshape(-1, a.shape[-1])


def _loop_inputs(params: Params, xs: Array, hoist: bool):
    """Feature-major inputs ``[t, d, b]`` (or projections ``[t, g·h, b]`` when hoisted) and the
    per-step projection. Inside the loops, states are ``[h, b]`` and every matmul is
    ``W [g·h, h] @ h [h, b]``: on the CPU this measured up to 3x faster than ``h [b, h] @ W``
    for small batches (b = 16, h = 1024) and 1.2x at b = 64, with the same numbers."""
    wx_t, b = params["wx"].T, params["b"][:, None]
    if hoist:
        return _swap(dense(xs, params["wx"], params["b"])), lambda x: x
    return _swap(xs), lambda x: wx_t @ x + b


def _forward(params: Params, h0: Array, c0: Array, xs: Array, valid: Array, unroll: int, hoist: bool, keep: bool):
    """The scan; with ``keep`` it also returns the backward factors (module docstring):
    ``[t, 4h, b]``, ``f [t, h, b]`` and ``o(1-tanh²(c)) [t, h, b]``, all the backward pass needs
    besides ``ys`` (h_{t-1} is ``ys[t-1]`` at every valid step, since valid steps form a prefix)."""
    inputs, project = _loop_inputs(params, xs, hoist)
    if hoist:
        wh_t = params["wh"].T

        def preactivation(x, h):
            return project(x) + wh_t @ h
    else:  # one matmul [W_x; W_h]ᵀ [x; h] per step: measured 6-12% faster than two (b = 1, 16, 64)
        w_t, b = jnp.concatenate([params["wx"], params["wh"]], 0).T, params["b"][:, None]

        def preactivation(x, h):
            return w_t @ jnp.concatenate([x, h], 0) + b

    def step(carry, inputs):
        h, c = carry
        x, v = inputs
        i, f, g, o = jnp.split(preactivation(x, h), 4, axis=0)
        i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
        c_new = f * c + i * g
        tanh_c = jnp.tanh(c_new)
        h_new = o * tanh_c
        v = v[None, :]
        y = jnp.where(v, h_new, jnp.zeros_like(h_new))
        saved = None
        if keep:  # c is c_{t-1}
            saved = (jnp.concatenate([g * i * (1 - i), c * f * (1 - f), i * (1 - g * g), tanh_c * o * (1 - o)], 0),
                     f, o * (1 - tanh_c * tanh_c))
        return (jnp.where(v, h_new, h), jnp.where(v, c_new, c)), (y, saved)

    (h, c), (ys, saved) = jax.lax.scan(step, (h0.T, c0.T), (inputs, valid), unroll=unroll)
    return _swap(ys), h.T, c.T, saved


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def lstm_scan(params: Params, h0: Array, c0: Array, xs: Array, valid: Array, unroll: int = 1, hoist: bool = False):
    """LSTM over time-major ``xs [t, b, d]`` with ``valid [t, b]`` (bool): ``(ys, h_T, c_T)``."""
    ys, h, c, _ = _forward(params, h0, c0, xs, valid, unroll, hoist, keep=False)
    return ys, h, c


def _lstm_fwd(params, h0, c0, xs, valid, unroll, hoist):
    ys, h, c, saved = _forward(params, h0, c0, xs, valid, unroll, hoist, keep=True)
    return (ys, h, c), (params, h0, xs, valid, ys, saved)


def _lstm_bwd(unroll, hoist, residuals, cotangents):
    params, h0, xs, valid, ys, factors = residuals
    dys, dh_last, dc_last = cotangents
    wh = params["wh"]
    n = wh.shape[0]
    from_c = (jnp.arange(4) < 3)[:, None, None]  # the i, f, g rows of dz take dc; the o rows take dh

    def step(carry, inputs):
        dh_next, dc_next = carry
        dy, v, (per_gate, f, dc_dh) = inputs
        v = v[None, :]
        dh = dy + dh_next
        dc = dc_next + dh * dc_dh
        dz = (per_gate.reshape(4, n, -1) * jnp.where(from_c, dc[None], dh[None])).reshape(4 * n, -1)
        dz = jnp.where(v, dz, jnp.zeros_like(dz))
        return (jnp.where(v, wh @ dz, dh_next), jnp.where(v, dc * f, dc_next)), dz

    (dh0, dc0), dzs = jax.lax.scan(step, (dh_last.T, dc_last.T), (_swap(dys), valid, factors), reverse=True, unroll=unroll)
    dzs = _swap(dzs)  # [t, b, 4h]: rows for the weight-gradient matmuls
    h_prev = jnp.concatenate([h0[None], ys[:-1]])
    grads = {"wx": _rows(xs).T @ _rows(dzs), "wh": _rows(h_prev).T @ _rows(dzs), "b": dzs.sum((0, 1))}
    return grads, dh0.T, dc0.T, dense(dzs, params["wx"].T), None


lstm_scan.defvjp(_lstm_fwd, _lstm_bwd)


# --- GRU --------------------------------------------------------------------------------------
#
# Backward of one valid step, from s_t = z s_{t-1} + (1 - z) n with n = tanh(a_n):
#
#     ds = dy_t + ds_{t+1}     dz = ds (s_{t-1} - n)     dn = ds (1 - z)     da_n = dn (1 - n²)
#     reset-after  (a_n = xp_n + r (s_{t-1} W_n + b_h)):  dr = da_n (s_{t-1} W_n + b_h),  d(s W_n) = r da_n
#     reset-before (a_n = xp_n + (r s_{t-1}) W_n):        d(r s) = da_n W_nᵀ,  dr = d(r s) s_{t-1}
#     da_r = dr r (1 - r)      da_z = dz z (1 - z)
#     ds_{t-1} = ds z + [da_r, da_z, d(s W_n)] W_hᵀ      (reset-before: [da_r, da_z] W_{rz}ᵀ + d(r s) r)


def _gru_forward(params: Params, h0: Array, xs: Array, valid: Array, unroll: int, hoist: bool, reset_after: bool, keep: bool):
    wh_t = params["wh"].T  # [3h, h]
    n = wh_t.shape[1]
    inputs, project = _loop_inputs(params, xs, hoist)
    bh = params["bh"][:, None] if reset_after else None
    w_rz_t, w_n_t = wh_t[:2 * n], wh_t[2 * n:]  # sliced once, outside the loop

    def step(s, inputs):
        x, v = inputs
        xp = project(x)
        if reset_after:
            hp = wh_t @ s
            r = jax.nn.sigmoid(xp[:n] + hp[:n])
            z = jax.nn.sigmoid(xp[n:2 * n] + hp[n:2 * n])
            hn = hp[2 * n:] + bh
            cand = jnp.tanh(xp[2 * n:] + r * hn)
        else:
            rz = jax.nn.sigmoid(xp[:2 * n] + w_rz_t @ s)
            r, z = rz[:n], rz[n:]
            hn = r * s  # what the candidate's recurrent matmul reads
            cand = jnp.tanh(xp[2 * n:] + w_n_t @ hn)
        s_new = z * s + (1 - z) * cand
        v = v[None, :]
        y = jnp.where(v, s_new, jnp.zeros_like(s_new))
        return jnp.where(v, s_new, s), (y, (r, z, cand, hn) if keep else None)

    s, (ys, saved) = jax.lax.scan(step, h0.T, (inputs, valid), unroll=unroll)
    return _swap(ys), s.T, saved


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def gru_scan(params: Params, h0: Array, xs: Array, valid: Array, unroll: int = 1, hoist: bool = False,
             reset_after: bool = False):
    """GRU (either form) over time-major ``xs [t, b, d]`` with ``valid [t, b]``: ``(ys, s_T)``."""
    ys, s, _ = _gru_forward(params, h0, xs, valid, unroll, hoist, reset_after, keep=False)
    return ys, s


def _gru_fwd(params, h0, xs, valid, unroll, hoist, reset_after):
    ys, s, saved = _gru_forward(params, h0, xs, valid, unroll, hoist, reset_after, keep=True)
    return (ys, s), (params, h0, xs, valid, ys, saved)


def _gru_bwd(unroll, hoist, reset_after, residuals, cotangents):
    params, h0, xs, valid, ys, saved = residuals
    dys, ds_last = cotangents
    wh = params["wh"]  # [h, 3h]
    n = wh.shape[0]
    w_rz, w_n = wh[:, :2 * n], wh[:, 2 * n:]  # sliced once, outside the loop
    s_prev = jnp.concatenate([h0.T[None], _swap(ys)[:-1]])  # [t, h, b]; valid steps form a prefix

    def step(ds_next, inputs):
        dy, v, (r, z, cand, hn), sp = inputs
        v = v[None, :]
        ds = dy + ds_next
        da_n = ds * (1 - z) * (1 - cand * cand)
        da_z = ds * (sp - cand) * z * (1 - z)
        if reset_after:
            da_r = da_n * hn * r * (1 - r)
            d_hn = da_n * r  # gradient of s W_n + b_h
            ds_prev = ds * z + wh @ jnp.concatenate([da_r, da_z, d_hn], 0)
        else:
            d_rs = w_n @ da_n
            da_r = d_rs * sp * r * (1 - r)
            d_hn = da_n  # gradient of the candidate's pre-activation: W_n's rows are r s
            ds_prev = ds * z + d_rs * r + w_rz @ jnp.concatenate([da_r, da_z], 0)
        zero = lambda a: jnp.where(v, a, jnp.zeros_like(a))  # noqa: E731
        # Each gate's gradient is its own loop output. Written as one concatenation per step,
        # XLA's CPU code for it was scalar (27 of 200 ms at 64x128x128x256): reset-after training
        # steps measured 4-15% faster at batch 16 and 64 this way, reset-before and batch 1 within
        # noise (0.91-1.04x).
        return jnp.where(v, ds_prev, ds_next), (zero(da_r), zero(da_z), zero(da_n), zero(d_hn) if reset_after else None)

    ds0, (da_rs, da_zs, da_ns, dhns) = jax.lax.scan(step, ds_last.T, (_swap(dys), valid, saved, s_prev),
                                                  reverse=True, unroll=unroll)
    # Each gate's gradient transposed to rows [t·b, h] once, and one matmul per gate block,
    # never concatenating the [t, b, 3h] gradients: concatenating them first (and XLA transposing
    # the r and z blocks twice, once per weight) measured 1-9% slower training steps at batch 64,
    # both forms, and equal within noise at batch 1 and 16 (in-process A/B).
    da_r, da_z, da_n = (_rows(_swap(g)) for g in (da_rs, da_zs, da_ns))
    x_rows, s_rows = _rows(xs), _rows(_swap(s_prev))
    blocks = lambda rows, gates: jnp.concatenate([rows.T @ g for g in gates], 1)  # noqa: E731
    grads = {"wx": blocks(x_rows, (da_r, da_z, da_n)), "b": jnp.concatenate([g.sum(0) for g in (da_r, da_z, da_n)])}
    if reset_after:
        d_hn = _rows(_swap(dhns))
        grads["wh"], grads["bh"] = blocks(s_rows, (da_r, da_z, d_hn)), d_hn.sum(0)
    else:  # the candidate's block of W_h multiplies r s_{t-1}, which the forward pass saved
        grads["wh"] = jnp.concatenate([blocks(s_rows, (da_r, da_z)), _rows(_swap(saved[3])).T @ da_n], 1)
    wx = params["wx"]
    dx_rows = sum(g @ wx[:, k * n:(k + 1) * n].T for k, g in enumerate((da_r, da_z, da_n)))
    return grads, ds0.T, dx_rows.reshape(xs.shape), None


gru_scan.defvjp(_gru_fwd, _gru_bwd)

"""One LSTM/GRU layer in seqjax and in each peer, as a zero-argument ``run()`` doing one step.

Every contender gets the same shapes, float32, batch-major inputs, the loss
``mean(ys ** 2)`` and Adam (lr 1e-3); GRUs are the reset-after form all peers use.
A peer that is not installed raises ``MissingPeer`` and is reported as missing.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

import seqjax

PEERS = ("seqjax", "flax", "equinox", "keras", "torch")


class MissingPeer(Exception):
    pass


def inputs(b, t, d, seed=0):
    """The float32 batch-major inputs `[b, t, d]` every contender gets (standard normal, fixed seed)."""
    return np.random.default_rng(seed).normal(size=(b, t, d)).astype(np.float32)


def jax_runner(apply, params, xs, mode: str):
    """``run()`` for a JAX contender given ``apply(params, xs) -> ys``."""
    xs = jnp.asarray(xs)
    if mode == "infer":
        forward = jax.jit(apply)
        return lambda: forward(params, xs)
    optimizer = optax.adam(1e-3)

    @jax.jit
    def train_step(params, opt_state, xs):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean(apply(p, xs) ** 2))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    state = {"params": params, "opt": optimizer.init(params)}

    def run():
        state["params"], state["opt"], loss = train_step(state["params"], state["opt"], xs)
        return loss

    return run


def build_seqjax(kind, mode, b, t, d, h, cudnn=False):
    """``cudnn=True``: the LSTM on cuDNN's kernel (``seqjax.kernels.cudnn``); the GRU keeps XLA's loop."""
    cell = seqjax.LSTM(d, h) if kind == "lstm" else seqjax.GRU(d, h, reset_after=True)
    return jax_runner(lambda p, xs: seqjax.unroll(cell, p, xs, options=seqjax.ScanOptions(cudnn=cudnn))[0], cell.init(jax.random.key(0)), inputs(b, t, d), mode)


def build_flax(kind, mode, b, t, d, h):
    try:
        import flax.linen as nn
    except ImportError as error:
        raise MissingPeer(str(error)) from None
    model = nn.RNN(nn.OptimizedLSTMCell(h) if kind == "lstm" else nn.GRUCell(h))
    xs = inputs(b, t, d)
    params = model.init(jax.random.key(0), jnp.asarray(xs))
    return jax_runner(model.apply, params, xs, mode)


def build_equinox(kind, mode, b, t, d, h):
    try:
        import equinox as eqx
    except ImportError as error:
        raise MissingPeer(str(error)) from None
    cell = (eqx.nn.LSTMCell if kind == "lstm" else eqx.nn.GRUCell)(d, h, key=jax.random.key(0))
    params, static = eqx.partition(cell, eqx.is_array)

    def apply(params, xs):
        cell = eqx.combine(params, static)

        def one_sequence(x_seq):  # Equinox cells take one example: scan over time, vmap over batch
            carry0 = (jnp.zeros(h), jnp.zeros(h)) if kind == "lstm" else jnp.zeros(h)

            def body(carry, x):
                carry = cell(x, carry)
                return carry, (carry[0] if kind == "lstm" else carry)

            return jax.lax.scan(body, carry0, x_seq)[1]

        return jax.vmap(one_sequence)(xs)

    return jax_runner(apply, params, inputs(b, t, d), mode)


def build_keras(kind, mode, b, t, d, h):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as error:
        raise MissingPeer(str(error)) from None
    if keras.backend.backend() != "jax":
        raise MissingPeer(f"keras runs on the {keras.backend.backend()} backend, not jax")
    layer = (keras.layers.LSTM if kind == "lstm" else keras.layers.GRU)(h, return_sequences=True)
    layer.build((b, t, d))
    trainable = [v.value for v in layer.trainable_variables]
    frozen = [v.value for v in layer.non_trainable_variables]
    return jax_runner(lambda p, xs: layer.stateless_call(p, frozen, xs)[0], trainable, inputs(b, t, d), mode)


def build_torch(kind, mode, b, t, d, h):
    try:
        import torch
    except ImportError as error:
        raise MissingPeer(str(error)) from None
    from benchmarks.common import torch_device

    device, sync = torch_device()  # on a GPU: cuDNN's fused LSTM/GRU kernels
    torch.manual_seed(0)
    module = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(d, h, batch_first=True).to(device)
    xs = torch.from_numpy(inputs(b, t, d)).to(device)
    if mode == "infer":
        def run():
            with torch.no_grad():
                ys = module(xs)[0]
            sync()
            return ys
        return run
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)

    def run():
        optimizer.zero_grad(set_to_none=True)
        loss = module(xs)[0].pow(2).mean()
        loss.backward()
        optimizer.step()
        sync()
        return None

    return run


BUILDERS = {"seqjax": build_seqjax, "flax": build_flax, "equinox": build_equinox, "keras": build_keras, "torch": build_torch}

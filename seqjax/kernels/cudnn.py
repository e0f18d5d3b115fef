"""cuDNN's LSTM kernel for ``seqjax.LSTM`` on NVIDIA GPUs: ``unroll(..., options=ScanOptions(cudnn=True))``.

cuDNN runs a whole LSTM layer, forward and backward, as one library call with its own
kernels; XLA's loop calls a matmul per step. On an H100 (BENCHMARKS_GPU.md) PyTorch's cuDNN
LSTM beat seqjax's XLA loop at the larger shapes (training at 64x128x512x512: 0.48x, with
XLA's autotuning off) and lost at the smaller ones. On an H200 (2026-12-04, autotuning on) this
path itself was slower than seqjax's XLA loop at all four of ``benchmarks.rnn_step``'s shapes:
XLA's time over cuDNN's 0.67-0.81x in training and 0.49-0.75x in inference (README, "On a GPU").
So it is an option, off by default.
JAX reaches cuDNN through ``jax.experimental.rnn.lstm`` (Keras's JAX backend uses the same
call for its LSTM layer). It takes one flat weight vector in PyTorch's layout::

    [W_ih (4h x d), W_hh (4h x h), b_ih (4h), b_hh (4h)]      gates in the order i, f, g, o

which is ``[wxᵀ, whᵀ, b, 0]`` in seqjax's tree (``wx [d, 4h]``, ``wh [h, 4h]``, ``b [4h]``,
gates i, f, g, o): the same numbers, so the parameter tree stays the same and gradients reach
it through that packing.

**Lengths keep XLA's loop.** On an NVIDIA H200 (2026-12-04, JAX 0.11.2, the first run of this
path on hardware) cuDNN's outputs and final states with ``lengths`` equalled XLA's loop (1.2e-7),
but seqjax's gradients through the kernel with ``lengths`` were wrong by O(1) (parameters off by
up to 4.5 where they reach 15, even with no length 0), while without lengths they equalled XLA's
loop within 1e-4. JAX's call alone, with ragged ``seq_lengths``, gave the reference gradients in
a small program; the cause inside seqjax's larger program was not found in the device time the
session had. A gradient that may be wrong is not offered: with ``lengths`` the LSTM runs XLA's
loop, as it does for the other cases below (``applies``).

Where it applies: ``seqjax.LSTM`` with tanh, float32 inputs and no ``lengths``, on a CUDA GPU.
``cudnn=True`` is like ``fused=True``: other cells, other dtypes, ``lengths``, an LSTM under recurrent dropout (whose
masked state cuDNN cannot see) and a default matmul precision cuDNN has no setting for
(bfloat16 passes, dot algorithms; see ``applies``) keep XLA's loop. ``jax.experimental.rnn``
has no CPU kernel: ``unroll`` raises a ValueError for ``cudnn=True`` where ``available()`` is
False. Its matmul precision follows ``jax_default_matmul_precision`` (``float32`` turns TF32
off). The kernel has no batching rule: ``jax.vmap`` over ``unroll`` with ``ScanOptions(cudnn=True)`` fails; the
batch axis is the way to batch it.

tests/test_cudnn.py checks everything here but the kernel on the CPU: the packing and the
fallbacks, with JAX's own reference LSTM (``jax.experimental.rnn.lstm_ref``, the same
contract on unpacked weights) standing in for the cuDNN call, against seqjax's LSTM values and
gradients. Its GPU test runs the cuDNN kernel itself against seqjax's XLA path; it is skipped
where no GPU is lent.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from seqjax.core.types import Array, Params


def available() -> bool:
    """True where JAX can run cuDNN's LSTM: a GPU backend with the CUDA plugin's RNN library."""
    if jax.default_backend() != "gpu":
        return False
    try:
        from jax.experimental import rnn
    except ImportError:  # pragma: no cover - jax without the experimental module
        return False
    return rnn.gpu_rnn is not None and hasattr(rnn.gpu_rnn, "compute_rnn_workspace_reserve_space_sizes")


def unavailable(option: str = "cudnn=True") -> str | None:
    """Why ``option`` cannot run here (one line for an error), or None where cuDNN is available."""
    if available():
        return None
    return (f"{option} needs a CUDA GPU with cuDNN; JAX's backend here is {jax.default_backend()!r}, "
            f"and jax.experimental.rnn has no kernel for it")


# Default matmul precisions (``jax_default_matmul_precision``, also as ``jax.default_matmul_precision``
# contexts) under which cuDNN computes what XLA's loop would. cuDNN's LSTM has one switch, TF32 on or
# off: ``jax.experimental.rnn`` raises for bfloat16 passes ("bfloat16", "default", "fastest") and
# ignores dot algorithms ("F32_F32_F32" and the like), so under those XLA's loop runs.
_PRECISIONS = ("float32", "highest", "tensorfloat32", "high")


def applies(activation: str, dtype, lengths: Array | None = None) -> bool:
    """Whether cuDNN computes this LSTM as XLA's loop would: tanh (cuDNN's only LSTM activation),
    float32, no ``lengths`` (their gradients, module docstring) and a default matmul precision of
    full float32 or TF32 (read at trace time)."""
    precision = jax.config.jax_default_matmul_precision
    return lengths is None and activation == "tanh" and jnp.dtype(dtype) == jnp.float32 and (precision is None or str(precision).lower() in _PRECISIONS)


def pack(params: Params) -> Array:
    """seqjax's LSTM tree as cuDNN's flat weight vector ``[W_ih, W_hh, b_ih, b_hh]`` (module docstring)."""
    wx, wh, b = params["wx"], params["wh"], params["b"]
    return jnp.concatenate([wx.T.ravel(), wh.T.ravel(), b, jnp.zeros_like(b)])


def kernel():
    """The LSTM call, ``jax.experimental.rnn.lstm`` (tests substitute its reference)."""
    from jax.experimental import rnn

    return rnn.lstm


def lstm_scan(params: Params, h0: Array, c0: Array, xs: Array) -> tuple[Array, Array, Array]:
    """LSTM over time-major ``xs [t, b, d]`` (t >= 1, every sequence full length) on cuDNN:
    ``(ys [t, b, h], h_T, c_T)``, as ``seqjax.kernels.fused.lstm_scan`` computes them."""
    t, b, d = xs.shape
    h = params["wh"].shape[0]
    ys, h_n, c_n = kernel()(jnp.swapaxes(xs, 0, 1), h0[None], c0[None], pack(params), jnp.full((b,), t, jnp.int32),
                            input_size=d, hidden_size=h, num_layers=1, dropout=0.0, bidirectional=False)
    return jnp.swapaxes(ys, 0, 1), h_n[0], c_n[0]

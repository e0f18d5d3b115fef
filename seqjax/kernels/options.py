"""How a loop over time computes: the one option type, and the one function that chooses the path.

Every choice here changes speed or memory, never the numbers (tests compare each path with autodiff
of the readable step). ``unroll``, the wrappers and the models take a ``ScanOptions`` whole and pass
it down; a cell's ``scan`` asks ``path(...)`` which loop to run; nothing else reads the flags.

    options = seqjax.ScanOptions(remat=True)           # the defaults suit most runs
    ys, state = seqjax.unroll(cell, params, xs, options=options)

The measurements behind each default are in BENCHMARKS.md ("Speed options"), with the commands
that produced them.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax

from seqjax.kernels import cudnn as cudnn_kernel

Path = Literal["cudnn", "fused", "autodiff"]


@dataclasses.dataclass(frozen=True)
class ScanOptions:
    """Speed options of a loop over time (every choice gives the same numbers).

    hoist:  compute the input projections of all steps with one large matmul before the loop;
            None (the default) decides by platform: on off the CPU, off on the CPU, where it lost
            (the projected sequence falls out of cache; BENCHMARKS.md).
    unroll: ``lax.scan``'s unroll factor.
    remat:  recompute each step in the backward pass (``jax.checkpoint``) instead of storing its
            intermediates: less memory on long sequences, one more forward computation.
    fused:  use a cell's hand-written backward pass where it has one (``seqjax.kernels.fused``: LSTM
            and GRU with tanh; ``fused_linear``: sequential MinGRU/MinLSTM). ``remat`` takes
            precedence (it needs autodiff's backward). Forward-mode autodiff (``jax.jvp``) cannot pass
            through a custom VJP: use ``fused=False`` for it.
    cudnn:  run ``seqjax.LSTM`` layers (tanh, float32, no ``lengths``) on cuDNN's kernel, CUDA GPUs
            only (``seqjax.kernels.cudnn``); other cells and calls with lengths keep XLA's loop. Takes precedence over the others.
    """

    hoist: bool | None = None
    unroll: int = 1
    remat: bool = False
    fused: bool = True
    cudnn: bool = False

    def __post_init__(self):
        if isinstance(self.unroll, bool) or not isinstance(self.unroll, int) or self.unroll < 1:
            raise ValueError(f"ScanOptions.unroll must be an int >= 1, got {self.unroll!r}")
        for name in ("remat", "fused", "cudnn"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ScanOptions.{name} must be True or False, got {getattr(self, name)!r}")
        if self.hoist is not None and not isinstance(self.hoist, bool):
            raise ValueError(f"ScanOptions.hoist must be True, False or None (by platform), got {self.hoist!r}")

    def resolved(self) -> ScanOptions:
        """These options with ``hoist`` decided for this platform; a ValueError if ``cudnn`` cannot run here."""
        if self.cudnn and (why := cudnn_kernel.unavailable("ScanOptions(cudnn=True)")):
            raise ValueError(f"{why} (use cudnn=False)")
        if self.hoist is not None:
            return self
        return dataclasses.replace(self, hoist=jax.default_backend() != "cpu")


DEFAULT = ScanOptions()


def path(options: ScanOptions, *, fused: bool = False, cudnn: bool = False, fused_saves_memory: bool = False) -> Path:
    """Which loop a cell runs: ``"cudnn"`` when asked for and the cell can (``cudnn``), else ``"fused"``
    when allowed, the cell has a fused kernel (``fused``) and ``remat`` does not override it (it does
    not where the kernel itself keeps only what remat would: ``fused_saves_memory``, the chunked
    ``fused_linear``), else ``"autodiff"`` (``lax.scan`` over the readable step, differentiated by JAX)."""
    if options.cudnn and cudnn:
        return "cudnn"
    if options.fused and fused and (fused_saves_memory or not options.remat):
        return "fused"
    return "autodiff"

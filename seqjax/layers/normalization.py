"""Layer normalisation (Ba et al. 2016): each vector scaled to zero mean and unit variance, then
a learned scale and shift, as ``torch.nn.LayerNorm`` and Flax's ``LayerNorm`` compute it.

    ln = LayerNorm(512)
    params = ln.init(key)                 # {"scale": ones [512], "bias": zeros [512]}
    y = ln(params, x)                     # x [..., 512]
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seqjax.core.checks import check_positive
from seqjax.core.types import Array, DType, Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class LayerNorm:
    """``y = (x − μ) / sqrt(σ² + eps) ⊙ scale + bias`` over the last axis.

    μ and σ² (the biased variance, as PyTorch) are computed in float32 at least whatever the
    input's dtype, and the result is cast back: bfloat16 statistics lose the small
    differences that normalisation divides by.
    """

    features: int
    eps: float = 1e-5
    use_scale: bool = True
    use_bias: bool = True
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        check_positive(self, "features")
        if not self.eps > 0:
            raise ValueError(f"LayerNorm.eps must be > 0, got {self.eps!r}")

    def init(self, key: PRNGKey | None = None) -> Params:
        params = {}
        if self.use_scale:
            params["scale"] = jnp.ones((self.features,), self.param_dtype)
        if self.use_bias:
            params["bias"] = jnp.zeros((self.features,), self.param_dtype)
        return params

    def __call__(self, params: Params, x: Array) -> Array:
        if x.shape[-1] != self.features:
            raise ValueError(f"LayerNorm({self.features}) expects inputs [..., {self.features}], got shape {tuple(x.shape)}")
        x32 = x.astype(jnp.float32) if jnp.finfo(x.dtype).bits < 32 else x  # float32 at least (float64 stays)
        mean = jnp.mean(x32, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x32 - mean), axis=-1, keepdims=True)
        y = (x32 - mean) * jax.lax.rsqrt(var + self.eps)
        if self.use_scale:
            y = y * params["scale"].astype(x32.dtype)
        if self.use_bias:
            y = y + params["bias"].astype(x32.dtype)
        return y.astype(x.dtype)

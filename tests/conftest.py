"""Shared fixtures: strict dtype promotion (catches silent float64/bfloat16 mixing) and keys."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
# The tests check float32 arithmetic: on GPUs JAX's float32 matmuls default to TF32 (about 1e-3
# relative error), which no float32 tolerance admits. On the CPU this changes nothing.
jax.config.update("jax_default_matmul_precision", "float32")


@pytest.fixture
def key():
    return jax.random.key(0)


TOL = {"float32": dict(rtol=2e-5, atol=2e-5), "bfloat16": dict(rtol=5e-2, atol=5e-2), "float64": dict(rtol=1e-10, atol=1e-10)}


def assert_close(actual, expected, dtype="float32"):
    """Backend- and dtype-aware comparison of arrays or pytrees (one place for tolerances)."""
    actual_leaves = jax.tree_util.tree_leaves(actual)
    expected_leaves = jax.tree_util.tree_leaves(expected)
    assert len(actual_leaves) == len(expected_leaves)
    for a, e in zip(actual_leaves, expected_leaves):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64), **TOL[str(dtype)])

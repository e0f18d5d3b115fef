"""Shared fixtures: strict dtype promotion (catches silent float64/bfloat16 mixing) and keys."""

import os
import pathlib

# The suite compiles thousands of tiny programs and runs each for milliseconds: LLVM's -O0 compiles
# them faster (tests/test_transformer.py and test_attention_decoder.py: 113 s at the default level,
# 85 s at 0). The level changes how the machine code is optimised, not the float semantics (no fast
# math either way); the processes tests start get it too (``xla_flags``).
FAST_COMPILE = "--xla_backend_optimization_level=0"


def xla_flags(devices: int | None = 1) -> str:
    """XLA_FLAGS for a test's process: ``devices`` CPU devices (None: XLA's default) compiled fast."""
    return FAST_COMPILE if devices is None else f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}"


def process_env(devices: int | None = None) -> dict[str, str]:
    """This environment for a CPU process a test starts, without the JAX and XLA settings of this one
    (but with the compilation cache), and with ``xla_flags(devices)``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JAX_", "XLA_FLAGS", "SEQJAX_LOCAL")) or k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE"))}
    return {**env, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags(devices)}


os.environ.setdefault("XLA_FLAGS", xla_flags(1))
# JAX's persistent compilation cache, for this process and every process a test starts (they inherit
# the environment): a restarted run (kills, resumes, a fresh process loading a model) loads the
# programs compiled before instead of compiling them again (a tiny char_lm run: 16 s, 7 s with the
# cache warm). Keyed by the program, the flags and JAX's version; compile counters count traces, so
# they are unchanged. An entry cut short by a kill fails to load, which JAX's compiler catches: it
# warns and compiles (jax/_src/compiler.py, _cache_read).
# SEQJAX_TEST_COMPILATION_CACHE=0 turns it off.
if os.environ.get("SEQJAX_TEST_COMPILATION_CACHE", "1") != "0":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax
import numpy as np
import pytest

if "JAX_COMPILATION_CACHE_DIR" in os.environ:  # in case a plugin imported jax before this file set the variables
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", int(os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"]))
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


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_code_after_each_module():
    """Each compiled XLA executable maps its code into memory; a worker that keeps every executable of a
    20-minute run passes the kernel's limit of memory maps (vm.max_map_count, 65,530 here: measured at
    30,000 after 3 minutes of the cell tests) and XLA then crashes inside a compile. Dropping JAX's caches
    after each module frees them; a function a later module needs is compiled again."""
    yield
    jax.clear_caches()


# Parametrized cases of 5-8 s on 2 cores (measured with --durations, 2026-12-04) that would push the fast
# tier (`pytest -m "not slow"`) past 5 minutes: they run in the slow tier, i.e. in CI's full suite. A whole
# test that is slow says so with its own @pytest.mark.slow; this list is for single cases of a grid.
SLOW_CASES = {
    "tests/test_compiled.py::test_eager_value_checks_raise_from_inside_the_compiled_program",
    "tests/test_compiled.py::test_a_method_compiles_once_per_shape_and_gives_the_op_by_op_values",
    "tests/test_torch_audit.py::test_every_field_is_converted_or_refused_by_to_torch[Elman]",
    "tests/test_torch_audit.py::test_every_field_is_converted_or_refused_by_to_torch[GRU]",
    "tests/test_torch_audit.py::test_every_field_is_converted_or_refused_by_to_torch[Bidirectional]",
    "tests/test_conventions.py::test_the_earlier_spellings_work_for_one_release_and_warn",
    "tests/test_seq2seq.py::test_params_save_load_round_trip_and_another_model",
    "tests/test_attention_decoder.py::test_unroll_equals_a_loop_of_step[luong]",
    "tests/test_generation.py::test_generate_all_decodes_each_example_as_alone_in_order[seq2seq (no attention)]",
    "tests/test_generation.py::test_generate_all_renders_and_returns_the_attention_of_the_best_hypothesis",
    "tests/test_conventions.py::test_every_loss_reads_the_batch_keys_of_the_conventions[classifier]",
    "tests/test_sequences.py::test_stack_equals_layers_composed_by_hand",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in SLOW_CASES:
            item.add_marker(pytest.mark.slow)

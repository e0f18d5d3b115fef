"""Host memory on the CPU: keep freed blocks for the next step instead of giving them back to the kernel.

XLA's CPU backend allocates each call's buffers with ``malloc`` and frees them when the call
ends. glibc's ``malloc`` hands large blocks straight back to the kernel: every block above
its mmap threshold (32 MiB at most), and every block over 64 MiB that one of XLA's worker
threads allocates in its own arena. The next call maps the memory again, and the kernel
zero-fills each 4 KiB page on first touch: on the 2-core CPU, a third or more of a long training
step went to page faults (BENCHMARKS.md, "Speed options").

``keep_freed_memory()`` tells glibc (through ``mallopt``) to serve large blocks from the heap,
never to trim the heap's top, and to use one arena for all threads. After a few warm-up
steps a training loop then reuses freed memory: 0 page faults in most steps (some still map
afresh: up to half of the warm calls in one run of tests/test_host_memory.py). This is a caching
allocator, as PyTorch and TensorFlow have for GPU memory, with the same trade-off: the process
keeps its peak heap, plus fragmentation, until it exits (the measurements: BENCHMARKS.md).

Call it once, before the first JAX computation: the one-arena setting only reaches threads
that have not allocated yet, and XLA's worker threads start with the CPU client. The command
lines of ``experiments/`` and ``benchmarks/`` call it through ``apply_default()``;
``SEQJAX_KEEP_FREED_MEMORY=0`` turns it off there. It is process-wide and touches no JAX state.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_KEEP = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_ARENA_MAX, 1))

ENV = "SEQJAX_KEEP_FREED_MEMORY"
_in_effect = False  # mirrors the process-wide malloc setting


def _glibc():
    """The process's C library if it is glibc (it has ``gnu_get_libc_version``), else ``None``."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt") else None


def keep_freed_memory() -> bool:
    """Makes glibc's ``malloc`` keep freed memory for reuse (see the module docstring).

    Returns True when every setting was accepted; False where the C library is not glibc
    (macOS, Windows, musl), whose allocators need no change or offer no such switch."""
    global _in_effect
    libc = _glibc()
    if libc is None:
        return False
    _in_effect = all(libc.mallopt(param, value) == 1 for param, value in _KEEP)
    return _in_effect


def in_effect() -> bool:
    """Whether ``keep_freed_memory()`` has been applied in this process (benchmarks record it)."""
    return _in_effect


def apply_default(environ=os.environ) -> bool:
    """What the command lines do at start-up: ``keep_freed_memory()`` unless ``$SEQJAX_KEEP_FREED_MEMORY``
    is ``0``/``false``/``no``/``off``. Returns whether the setting is now in effect."""
    value = environ.get(ENV, "1").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value not in ("1", "true", "yes", "on", ""):
        raise ValueError(f"${ENV} must be 1 or 0 (true/false), got {environ[ENV]!r}")
    return keep_freed_memory()


def page_faults() -> int:
    """Minor page faults of this process so far (``getrusage``); 0 where that is unavailable (Windows).

    Two readings around a call count the pages the call touched for the first time."""
    try:
        import resource
    except ImportError:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

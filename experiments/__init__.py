"""Runnable experiments: ``python -m experiments.<name> --help``."""

from __future__ import annotations

import sys


def run_main(main, config, description: str = "", argv=None):
    """Keeps freed host memory for the next step (``seqjax.host_memory``; ``SEQJAX_KEEP_FREED_MEMORY=0``
    turns it off), parses ``--field=value`` overrides, runs ``main(config)``, and turns the errors
    a user can fix (missing or malformed data, a diverged run, unreadable checkpoints) into one
    clear line and exit status 1 instead of a traceback."""
    from seqjax import host_memory
    from seqjax.config import parse_config
    from seqjax.data.files import DataFormatError, DataNotFoundError
    from seqjax.train.checkpoint import CheckpointError
    from seqjax.train.loop import NonFiniteError

    try:
        host_memory.apply_default()
    except ValueError as error:  # a malformed $SEQJAX_KEEP_FREED_MEMORY
        raise SystemExit(f"error: {error}") from None
    config = parse_config(config, argv, description)
    try:
        return main(config)
    except (DataFormatError, DataNotFoundError, NonFiniteError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None

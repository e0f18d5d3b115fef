"""Typed ``--field=value`` command-line overrides of a frozen dataclass config.

Every experiment keeps its run config as a frozen dataclass at the top of its file
(nanoGPT's style) and calls ``parse_config(Config(), argv)``. Values are checked
against the field's type (as nanoGPT's configurator does) and applied with
``dataclasses.replace``, so the dataclass stays the one source of truth. ``run_main``
is the command line of every experiment and benchmark: overrides, then ``main(config)``,
with the errors a user can fix printed as one line.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing


def _convert(name: str, text: str, kind: type):
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--{name} expects a boolean (true/false), got {text!r}")
    origin = typing.get_origin(kind)
    if origin is typing.Literal:  # a choice among fixed strings
        choices = typing.get_args(kind)
        if text not in choices:
            raise ValueError(f"--{name} expects one of {', '.join(choices)}; got {text!r}")
        return text
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        return tuple(_convert(name, part, inner) for part in text.split(",") if part)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if text.lower() == "none" and len(options) < len(typing.get_args(kind)):
            return None
        return _convert(name, text, options[0])
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ValueError(f"--{name} expects {getattr(kind, '__name__', kind)}, got {text!r}") from None
    if kind is float and not math.isfinite(value):  # nan and inf parse as floats, but no setting means them
        raise ValueError(f"--{name} expects a finite number, got {text!r}")
    return value


def format_value(value) -> str:
    """A value written as the command line takes it back: tuples comma-joined, booleans true/false, None none."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    return str(value)


def help_text(config, description: str = "") -> str:
    """The fields with their defaults, each written so that pasting it back on the command line works."""
    lines = [description.strip(), "", "options (--field=value; --flag alone sets a boolean):"] if description else \
        ["options (--field=value; --flag alone sets a boolean):"]
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        kind = hints[field.name]
        kind = "|".join(typing.get_args(kind)) if typing.get_origin(kind) is typing.Literal else getattr(kind, "__name__", kind)
        lines.append(f"  --{field.name}={format_value(getattr(config, field.name)):<20} ({kind})")
    return "\n".join(lines)


def check_config(config) -> None:
    """A ``SystemExit`` naming the field when a value is not of its field's type: a choice outside a
    ``Literal``'s (``--model must be one of rnn, transformer; got 'cnn'``), a tuple of anything but
    those choices, a non-finite float. The command line checks as it parses; an experiment's ``main``
    calls this first, so a config built in Python is checked alike, before anything is written."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, kind = getattr(config, field.name), hints[field.name]
        values, inner = (value, typing.get_args(kind)[0]) if typing.get_origin(kind) is tuple and isinstance(value, tuple) else ((value,), kind)
        if typing.get_origin(inner) is typing.Literal:
            choices = typing.get_args(inner)
            wrong = [v for v in values if v not in choices]
            if wrong:
                raise SystemExit(f"error: --{field.name} must be {'one' if values is not value else 'made'} of {', '.join(map(str, choices))}; "
                                 f"got {value!r}")
        elif kind is float and isinstance(value, float) and not math.isfinite(value):
            raise SystemExit(f"error: --{field.name} expects a finite number, got {value!r}")


def parse_config(config, argv: list[str] | None = None, description: str = ""):
    """Returns ``config`` with the ``--field=value`` overrides in ``argv`` applied; ``--help`` prints the fields."""
    argv = sys.argv[1:] if argv is None else argv
    hints = typing.get_type_hints(type(config))
    changes = {}
    for arg in argv:
        if arg in ("-h", "--help"):
            print(help_text(config, description))
            raise SystemExit(0)
        if arg.startswith("--") and "=" not in arg and hints.get(arg[2:].replace("-", "_")) is bool:
            arg += "=true"  # --flag sets a boolean field
        if not arg.startswith("--") or "=" not in arg:
            raise SystemExit(f"error: arguments must look like --field=value, got {arg!r}\n\n{help_text(config)}")
        name, text = arg[2:].split("=", 1)
        name = name.replace("-", "_")
        if name not in hints:
            raise SystemExit(f"error: unknown option --{name}\n\n{help_text(config)}")
        try:
            changes[name] = _convert(name, text, hints[name])
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
    return dataclasses.replace(config, **changes)


def run_main(main, config, description: str = "", argv=None):
    """Keeps freed host memory for the next step (``seqjax.core.host_memory``; ``SEQJAX_KEEP_FREED_MEMORY=0``
    turns it off), parses ``--field=value`` overrides, runs ``main(config)``, and turns the errors
    a user can fix (missing or malformed data, a diverged run, unreadable checkpoints) into one
    clear line and exit status 1 instead of a traceback."""
    from seqjax.core import host_memory
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

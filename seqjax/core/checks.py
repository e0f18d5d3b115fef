"""Argument checks shared by cells, layers and models: one wording for every error.

Each names the owner and the field (``LSTM.hidden_size must be a positive int, got 0``), so
a bad hyperparameter fails when the object is built, before anything is traced or written.
"""

from __future__ import annotations

import math


def check_positive(owner: object, *names: str) -> None:
    """Each ``owner.<name>`` is an int > 0."""
    for name in names:
        value = getattr(owner, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{type(owner).__name__}.{name} must be a positive int, got {value!r}")


def check_rate(owner: object, *names: str) -> None:
    """Each ``owner.<name>`` is a probability in [0, 1) (a dropout rate)."""
    for name in names:
        rate = getattr(owner, name)
        if isinstance(rate, bool) or not (isinstance(rate, (int, float)) and 0.0 <= rate < 1.0):
            raise ValueError(f"{type(owner).__name__}.{name} must be a float in [0, 1), got {rate!r}")


def check_choice(owner: object, name: str, choices: tuple) -> None:
    """``owner.<name>`` is one of ``choices``."""
    value = getattr(owner, name)
    if value not in choices:
        raise ValueError(f"{type(owner).__name__}.{name} must be one of {choices}, got {value!r}")


def check_finite(owner: object, *names: str, low: float | None = None, low_open: bool = False) -> None:
    """Each ``owner.<name>`` is a finite number (not NaN, not ±inf), and ``>= low`` (``> low``
    with ``low_open``) when ``low`` is given; ``None`` values are left to the caller."""
    for name in names:
        value = getattr(owner, name)
        if value is None:
            continue
        bound = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                low is not None and (value <= low if low_open else value < low)):
            raise ValueError(f"{type(owner).__name__}.{name} must be a finite number{bound}, got {value!r}")


def sizes_from(fields: dict, embed_size: int, hidden_size: int, where: str) -> tuple[int, int]:
    """A model factory's ``(embed_size, hidden_size)``, taking the earlier keywords ``embed=`` and
    ``hidden=`` out of ``fields`` for one release, with a DeprecationWarning (every size is ``*_size``)."""
    import warnings

    old = {name: fields.pop(name) for name in ("embed", "hidden") if name in fields}
    if old:
        warnings.warn(f"{where}: {', '.join(f'{k}=' for k in old)} is now {', '.join(f'{k}_size=' for k in old)} (every size "
                      "is named *_size, as the cells' input_size and hidden_size)", DeprecationWarning, stacklevel=3)
    return old.get("embed", embed_size), old.get("hidden", hidden_size)

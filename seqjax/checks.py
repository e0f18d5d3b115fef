"""Argument checks shared by cells, layers and models: one wording for every error.

Each names the owner and the field (``LSTM.hidden_size must be a positive int, got 0``), so
a bad hyperparameter fails when the object is built, before anything is traced or written.
"""

from __future__ import annotations


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

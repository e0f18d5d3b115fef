"""Tokenizers and vocabularies: characters or words to integer ids and back.

A ``Vocab`` is an immutable list of tokens; a token's id is its index. The special
tokens of sequence-to-sequence work come first, at fixed ids::

    <PAD> = 0   padding (masked out of every loss)
    <UNK> = 1   any token not in the vocabulary
    <EOS> = 2   end of sequence
    <GO>  = 3   start of decoding ("beginning of sequence")

then the corpus tokens by descending frequency (ties in first-seen order), after the
``min_freq`` and ``max_size`` cuts. A vocabulary's ``level`` says how it splits text and writes
it back: "word", "char", or any ``seqjax.data.Tokenizer``. ``save``/``load`` write a small JSON
file (the tokens and the level), which is stored with every run so that a checkpoint can be
decoded later.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
from typing import Iterable, Sequence

import numpy as np

from seqjax.core.describe import describe, rebuild
from seqjax.data.tokenizer import LEVELS, Tokenizer

PAD, UNK, EOS, GO = "<PAD>", "<UNK>", "<EOS>", "<GO>"
SPECIALS = (PAD, UNK, EOS, GO)
PAD_ID, UNK_ID, EOS_ID, GO_ID = range(4)



def char_tokenize(text: str) -> list[str]:
    """Every character is a token (spaces and newlines included): ``Tokenizer.char()``."""
    return LEVELS["char"](text)


def word_tokenize(text: str, lower: bool = True) -> list[str]:
    """Words (with inner apostrophes: ``don't``) and single punctuation marks: ``Tokenizer.word(lower)``."""
    return (LEVELS["word"] if lower else Tokenizer.word(lower=False))(text)


TOKENIZERS = {"char": char_tokenize, "word": word_tokenize}


def frame(ids: list[int], vocab, add_go: bool, add_eos: bool, needs: str) -> list[int]:
    """``ids`` led by <GO> and ended by <EOS> as asked; a ValueError saying what ``vocab`` lacks for it."""
    if add_go or add_eos:
        if not vocab.has_specials:
            raise ValueError(f"add_go/add_eos need {needs}")
        ids = ([GO_ID] if add_go else []) + ids + ([EOS_ID] if add_eos else [])
    return ids


def as_tokenizer(level: "str | Tokenizer") -> Tokenizer:
    """The ``Tokenizer`` a vocabulary ``level`` names ("word", "char") or is; a ValueError otherwise."""
    if isinstance(level, Tokenizer):
        return level
    if isinstance(level, str) and level in LEVELS:
        return LEVELS[level]
    raise ValueError(f"level must be one of {sorted(LEVELS)} or a seqjax.data.Tokenizer, got {level!r}")


@dataclasses.dataclass(frozen=True)
class Vocab:
    """Token <-> id mapping. Build with ``Vocab.build``; ``len(vocab)`` is the embedding size."""

    tokens: tuple[str, ...]
    level: str | Tokenizer = "word"  # "word", "char" or a Tokenizer: how ``encode`` splits text and ``decode`` writes it

    def __post_init__(self):
        as_tokenizer(self.level)
        if len(set(self.tokens)) != len(self.tokens):
            duplicates = sorted(t for t, n in collections.Counter(self.tokens).items() if n > 1)
            raise ValueError(f"tokens must be unique, got duplicates {duplicates[:5]}")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, corpus: Iterable[Sequence[str]] | str, *, level: str | Tokenizer = "word", min_freq: int = 1,
              max_size: int | None = None, specials: bool = True) -> "Vocab":
        """Counts tokens over ``corpus`` (a text, or an iterable of token lists / texts).

        ``min_freq`` drops rarer tokens; ``max_size`` caps the total size, specials included.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        head = SPECIALS if specials else ()
        if max_size is not None and max_size < len(head):
            raise ValueError(f"max_size must be at least {len(head)} (the special tokens), got {max_size}")
        counts: collections.Counter[str] = collections.Counter()
        tokenize = as_tokenizer(level)
        for item in [corpus] if isinstance(corpus, str) else corpus:
            counts.update(tokenize(item) if isinstance(item, str) else item)
        ranked = [t for t, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= min_freq and t not in head]
        if not ranked:  # a vocabulary of the special tokens alone encodes every word as <UNK>
            seen = f"{len(counts)} distinct token(s), none seen min_freq={min_freq} times" if counts else "no token"
            raise ValueError(f"Vocab.build: the corpus has {seen}: a vocabulary needs at least one word")
        if max_size is not None:
            ranked = ranked[: max_size - len(head)]
        return cls(tuple(head) + tuple(ranked), level=level)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    @property
    def tokenizer(self) -> Tokenizer:
        """How this vocabulary splits text (``encode``) and writes tokens back (``decode``)."""
        return as_tokenizer(self.level)

    @property
    def has_specials(self) -> bool:
        return self.tokens[: len(SPECIALS)] == SPECIALS

    def id(self, token: str) -> int:
        """The id of ``token``; <UNK>'s id for unknown tokens (KeyError without specials)."""
        if token in self._index:
            return self._index[token]
        if self.has_specials:
            return UNK_ID
        raise KeyError(f"token {token!r} is not in the vocabulary (which has no <UNK>)")

    def encode(self, text: str | Sequence[str], *, add_go: bool = False, add_eos: bool = False) -> list[int]:
        """Text (split at this vocab's level) or a token list -> ids, optionally framed by <GO>/<EOS>."""
        tokens = self.tokenizer(text) if isinstance(text, str) else text
        return frame([self.id(t) for t in tokens], self, add_go, add_eos, "a vocabulary built with specials=True")

    def decode(self, ids: Iterable[int], *, strip_specials: bool = True) -> str:
        """Ids -> text; stops at the first <EOS> and drops <PAD>/<GO> when ``strip_specials``."""
        out = []
        ids = np.asarray(ids if hasattr(ids, "dtype") else list(ids))
        if ids.size and (ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer)):
            raise TypeError(f"decode: ids must be a sequence of int token ids, got {ids.dtype} values {ids.ravel()[:4].tolist()}")
        for i in ids.tolist():
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is out of range for a vocabulary of size {len(self.tokens)}")
            token = self.tokens[i]
            if strip_specials and self.has_specials and i < len(SPECIALS):
                if i == EOS_ID:
                    break
                if i in (PAD_ID, GO_ID):
                    continue
            out.append(token)
        return self.tokenizer.render(out)

    def as_json(self) -> dict:
        """The tokens and the level (a Tokenizer as its description): what ``save`` and ``seqjax.save_model`` write."""
        return {"level": self.level if isinstance(self.level, str) else describe(self.level), "tokens": list(self.tokens)}

    @classmethod
    def from_json(cls, data: dict) -> "Vocab":
        """The vocabulary ``as_json`` wrote (a ``SubwordVocab`` for a subword one; a ValueError naming what
        is wrong otherwise)."""
        if isinstance(data, dict) and "subword" in data:
            from seqjax.data.subword import SubwordVocab

            return SubwordVocab.from_json(data)
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise ValueError(f"a vocabulary must be {{'tokens': [...], 'level': ...}}, got {str(data)[:80]}")
        level = data.get("level", "word")
        return cls(tuple(data["tokens"]), level=rebuild(level, "level") if isinstance(level, dict) else level)

    def save(self, path: str | pathlib.Path) -> None:
        pathlib.Path(path).write_text(json.dumps({"format": "seqjax.vocab/1", **self.as_json()}))

    @classmethod
    def load(cls, path: str | pathlib.Path) -> "Vocab":
        path = pathlib.Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a seqjax vocabulary file (expected JSON written by Vocab.save): {error}") from None
        if not isinstance(data, dict) or data.get("format") != "seqjax.vocab/1" or not (isinstance(data.get("tokens"), list) or "subword" in data):
            raise ValueError(f"{path}: not a seqjax vocabulary file (expected keys format='seqjax.vocab/1', level, tokens)")
        try:
            return cls.from_json(data)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: {error}") from None

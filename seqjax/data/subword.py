"""Subword vocabularies backed by Hugging Face's ``tokenizers``: byte-level BPE and WordPiece.

A ``SubwordVocab`` is used where a ``Vocab`` is (``encode``, ``decode``, ``len``, ``tokens``, the
special tokens at the same ids, saved with a model by ``seqjax.save_model``), so a translation
experiment switches from words to subwords by its vocabulary alone::

    bpe = SubwordVocab.train(train_sentences, kind="bpe", vocab_size=8000)     # byte-level BPE
    ids = bpe.encode("A man in a T-shirt.", add_eos=True)                     # [.., EOS_ID]
    bpe.decode(ids)                                                          # "A man in a T-shirt."
    wordpiece = SubwordVocab.train(texts, kind="wordpiece", vocab_size=8000)
    gpt2 = SubwordVocab.load("path/to/tokenizer.json")                       # any tokenizers file

Trained vocabularies put seqjax's special tokens first, at their fixed ids (``<PAD>`` 0, ``<UNK>`` 1,
``<EOS>`` 2, ``<GO>`` 3: ``seqjax.data.vocab``), so every model and batch function works unchanged.
A loaded ``tokenizer.json`` keeps its own ids (GPT-2's has no padding token); ``has_specials`` says
whether seqjax's four are where seqjax expects them. Byte-level BPE reads any text (no ``<UNK>``)
and gives it back exactly; WordPiece lowercases nothing but splits punctuation from words, and its
``decode`` joins only sentence punctuation back (``"runs, fast."``; but ``"T - shirt ( red )"``),
the convention of BERT-style tokenizers.

``tokenizers`` is an optional dependency (the ``hf`` extra); ``import seqjax`` never imports it.
"""

from __future__ import annotations

import json
import pathlib
from typing import Iterable, Sequence

import numpy as np

from seqjax.data.vocab import EOS_ID, GO_ID, PAD_ID, SPECIALS, UNK, frame

KINDS = ("bpe", "wordpiece")


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("SubwordVocab needs the tokenizers package: pip install 'seqjax[hf]'") from None
    return tokenizers


class SubwordVocab:
    """A ``tokenizers.Tokenizer`` with the ``Vocab`` interface (see the module doc)."""

    level = "subword"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.tokens = tuple(token for token, _ in sorted(tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1]))
        if [tokenizer.token_to_id(t) for t in self.tokens] != list(range(len(self.tokens))):
            raise ValueError("the tokenizer's ids are not 0..n-1: a vocabulary needs every id to name one token")

    @classmethod
    def train(cls, texts: Iterable[str], *, kind: str = "bpe", vocab_size: int = 8000, min_frequency: int = 2) -> "SubwordVocab":
        """Learns a byte-level BPE or a WordPiece vocabulary of at most ``vocab_size`` tokens (specials
        included, first) from ``texts``: the training split only, as every vocabulary here."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        least = len(SPECIALS) + (256 if kind == "bpe" else 1)  # byte-level BPE starts from every byte
        if vocab_size < least:
            raise ValueError(f"vocab_size must be at least {least} for {kind} (the {len(SPECIALS)} special tokens"
                             f"{' and the 256 bytes' if kind == 'bpe' else ' and a token'}), got {vocab_size}")
        tk = _tokenizers()
        if kind == "bpe":
            tokenizer = tk.Tokenizer(tk.models.BPE())
            tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
            tokenizer.decoder = tk.decoders.ByteLevel()
            trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIALS),
                                             initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        else:
            tokenizer = tk.Tokenizer(tk.models.WordPiece(unk_token=UNK))
            tokenizer.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
            tokenizer.decoder = tk.decoders.WordPiece()
            trainer = tk.trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIALS),
                                                   show_progress=False)
        texts = list(texts)
        if not any(t.strip() for t in texts):
            raise ValueError("SubwordVocab.train: the corpus has no text")
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | pathlib.Path) -> "SubwordVocab":
        """A ``tokenizer.json`` (``tokenizers``' format), or a file ``save`` wrote."""
        path = pathlib.Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a tokenizer file ({error})") from None
        try:
            return cls.from_json(data) if isinstance(data, dict) and "subword" in data else cls(_tokenizers().Tokenizer.from_str(text))
        except Exception as error:  # noqa: BLE001  (tokenizers' own exception types)
            raise ValueError(f"{path}: not a tokenizer file ({error})") from None

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return self.tokenizer.token_to_id(token) is not None

    def __eq__(self, other) -> bool:
        return isinstance(other, SubwordVocab) and self.tokenizer.to_str() == other.tokenizer.to_str()

    def __hash__(self) -> int:
        return hash(self.tokenizer.to_str())

    def __repr__(self) -> str:
        return f"SubwordVocab({type(self.tokenizer.model).__name__}, {len(self)} tokens)"

    @property
    def has_specials(self) -> bool:
        return self.tokens[: len(SPECIALS)] == SPECIALS

    def id(self, token: str) -> int:
        i = self.tokenizer.token_to_id(token)
        if i is None:
            raise KeyError(f"token {token!r} is not in the vocabulary")
        return i

    def encode(self, text: str | Sequence[str], *, add_go: bool = False, add_eos: bool = False) -> list[int]:
        """Text -> subword ids, optionally framed by <GO>/<EOS> (a list of words is joined by spaces first)."""
        ids = self.tokenizer.encode(text if isinstance(text, str) else " ".join(text), add_special_tokens=False).ids
        return frame(ids, self, add_go, add_eos, "seqjax's special tokens at ids 0..3 (a vocabulary from SubwordVocab.train)")

    def decode(self, ids: Iterable[int], *, strip_specials: bool = True) -> str:
        """Ids -> text; with ``strip_specials``, stops at the first <EOS> and drops <PAD>/<GO> (seqjax's specials)."""
        ids = np.asarray(ids if hasattr(ids, "dtype") else list(ids))
        if ids.size and (ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer)):
            raise TypeError(f"decode: ids must be a sequence of int token ids, got {ids.dtype} values {ids.ravel()[:4].tolist()}")
        ids = ids.tolist()
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"id {bad[0]} is out of range for a vocabulary of size {len(self)}")
        if strip_specials and self.has_specials:
            ids = ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids
            ids = [i for i in ids if i not in (PAD_ID, GO_ID)]
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def as_json(self) -> dict:
        """What ``seqjax.save_model`` writes: the tokenizer in ``tokenizers``' own JSON."""
        return {"subword": json.loads(self.tokenizer.to_str())}

    @classmethod
    def from_json(cls, data: dict) -> "SubwordVocab":
        return cls(_tokenizers().Tokenizer.from_str(json.dumps(data["subword"])))

    def save(self, path: str | pathlib.Path) -> None:
        pathlib.Path(path).write_text(json.dumps({"format": "seqjax.vocab/1", **self.as_json()}))

"""A loaded model on raw text: ``seqjax.load(run_dir)`` and then ``generate`` or ``predict`` with strings.

A saved model (``seqjax.save_model``) holds its vocabularies, each with the tokenizer that splits
its text and writes it back (``seqjax.data.Tokenizer``), and the run's choices for decoding and
batching (``meta["generate"]``, ``meta["predict"]``); a classifier also holds its class names
(``meta["classes"]``). That is all the text layer needs::

    translator = seqjax.load("runs/translate")
    translator.generate(["Ein Hund läuft."])                 # ["A dog runs."]  (the run's method: beam)
    translator.generate(["Ein Hund läuft."], method="greedy")
    seqjax.load("runs/char_lm").generate(["ROMEO:"], method="sample", key=jax.random.key(0), max_length=200)
    seqjax.load("runs/sentiment/models/cnn_rand").predict(["a gripping , funny film"])   # ["positive"]
    seqjax.load("runs/caption/attend").generate(images)     # images [n, H, W, 3]: one caption each

What each kind of model reads and returns (the vocabularies by name):

    sequence to sequence (Seq2Seq, Transformer)   texts -> texts        "src", "tgt"
    language model (TransformerLM, RecurrentLM)    prompts -> prompt + continuation   "vocab"
    captioner (Captioner)                          images -> texts       "vocab"
    classifier (Classifier)                        texts -> class names (predict; probabilities)   "vocab"

Keyword arguments of ``generate`` are ``seqjax.decoding.generate_all``'s (``method``, ``max_length``,
``beam_width``, ``length_penalty``, ``key``, ``temperature``, ``top_k``, ``top_p``, ``batch_size``,
``buckets``) and override the saved ones. Batches have the run's shapes, so a loaded model gives
the outputs the experiment gave.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from seqjax import decoding
from seqjax.data.batching import bucket_length, pad
from seqjax.data.vocab import Vocab

GENERATE_DEFAULTS = {"method": "greedy", "max_length": 50, "batch_size": 64}
PREDICT_DEFAULTS = {"batch_size": 256, "buckets": None}


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What ``seqjax.load`` returns: the rebuilt model, its params, its vocabularies by name, and the
    rest of the meta; ``generate`` and ``predict`` read and write raw text (the module doc)."""

    model: Any
    params: Any
    vocabularies: dict[str, Vocab]
    meta: dict

    def vocabulary(self, name: str) -> Vocab:
        if name not in self.vocabularies:
            raise ValueError(f"this {type(self.model).__name__} was saved without the vocabulary {name!r} (it has "
                             f"{sorted(self.vocabularies) or 'none'}): pass vocabularies={{{name!r}: ...}} to seqjax.save_model")
        return self.vocabularies[name]

    def generate(self, inputs: Sequence[str] | np.ndarray, **options) -> list[str]:
        """The model's output text for each input (texts, prompts or images), in order."""
        from seqjax.models import Captioner, Seq2Seq, Transformer

        options = {**GENERATE_DEFAULTS, **self.meta.get("generate", {}), **options}
        if isinstance(self.model, Captioner):
            images = np.asarray(inputs)
            return self._decode_all(list(images), options, collate=lambda chunk: (np.stack(chunk),), target=self.vocabulary("vocab"))
        if isinstance(self.model, (Seq2Seq, Transformer)):
            sources = [self._encode(self.vocabulary("src"), text, i, "inputs") for i, text in enumerate(_texts(inputs, "inputs"))]
            return self._decode_all(sources, options, target=self.vocabulary("tgt"))
        if isinstance(self.model, decoding.Generator):
            return self._continue(_texts(inputs, "prompts"), options)
        raise TypeError(f"a {type(self.model).__name__} does not generate text; use predict" if hasattr(self.model, "predict")
                        else f"a {type(self.model).__name__} does not generate text")

    def _encode(self, vocab: Vocab, text: str, index: int, what: str) -> list[int]:
        ids = vocab.encode(text) if vocab.has_specials or vocab.level == "subword" else _known(vocab, text, index, what)
        if not ids:
            raise ValueError(f"{what}[{index}] has no token ({text!r}): there is nothing to read")
        return ids

    def _decode_all(self, examples: list, options: dict, *, target: Vocab, collate=None) -> list[str]:
        options = dict(options)
        batch_size = options.pop("batch_size")
        buckets = options.pop("buckets", None)
        texts, _ = decoding.generate_all(self.model, self.params, examples, batch_size=batch_size, collate=collate,
                                         buckets=tuple(buckets) if buckets else None, render=target.decode, **options)
        return texts

    def _continue(self, prompts: list[str], options: dict) -> list[str]:
        """Each prompt and what follows it: prompts of one length decode as one batch (a sampling
        ``key`` is used as given for the first such group, folded with the group's index for the others)."""
        vocab = self.vocabulary("vocab")
        options = dict(options)
        options.pop("batch_size"), options.pop("buckets", None)
        key = options.pop("key", None)
        ids = [self._encode(vocab, text, i, "prompts") for i, text in enumerate(prompts)]
        groups: dict[int, list[int]] = {}
        for i, row in enumerate(ids):
            groups.setdefault(len(row), []).append(i)
        out: list[str] = [""] * len(prompts)
        for g, rows in enumerate(groups.values()):
            group_key = key if key is None or g == 0 else jax.random.fold_in(key, g)
            decoded = decoding.generate(self.model, self.params, jnp.asarray([ids[i] for i in rows]), key=group_key, **options)
            best = decoded.tokens[:, 0] if decoded.tokens.ndim == 3 else decoded.tokens
            lengths = decoded.lengths[:, 0] if decoded.lengths.ndim == 2 else decoded.lengths
            for row, tokens, length in zip(rows, np.asarray(best), np.asarray(lengths)):
                out[row] = prompts[row] + vocab.decode(tokens[:length])
        return out

    def logits(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """A classifier's class logits ``[n, classes]`` for raw texts (batched as the run batched)."""
        if not hasattr(self.model, "predict"):
            raise TypeError(f"a {type(self.model).__name__} does not classify; use generate")
        settings = {**PREDICT_DEFAULTS, **self.meta.get("predict", {})}
        size = batch_size or settings["batch_size"]
        vocab = self.vocabulary("vocab")
        ids = [self._encode(vocab, text, i, "texts") for i, text in enumerate(_texts(texts, "texts"))]
        out = []
        for begin in range(0, len(ids), size):
            chunk = ids[begin: begin + size]
            longest = max(len(row) for row in chunk)
            padded, lengths = pad(chunk, bucket_length(longest, settings["buckets"]) if settings["buckets"] else longest)
            out.append(np.asarray(self.model.logits(self.params, jnp.asarray(padded), jnp.asarray(lengths))))
        return np.concatenate(out)

    def probabilities(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """A classifier's class probabilities ``[n, classes]`` for raw texts."""
        return np.asarray(jax.nn.softmax(self.logits(texts, batch_size=batch_size), axis=-1))

    def predict(self, texts: Sequence[str], *, batch_size: int | None = None) -> list:
        """A classifier's answer for each raw text: the class name (``meta["classes"]``) or the class id."""
        classes = self.meta.get("classes")
        best = self.logits(texts, batch_size=batch_size).argmax(-1).tolist()
        return [classes[i] for i in best] if classes else best


def _texts(inputs, what: str) -> list[str]:
    if isinstance(inputs, str):
        raise TypeError(f"{what} must be a list of strings, got one string (wrap it: [{inputs[:30]!r}])")
    inputs = list(inputs)
    bad = [i for i, text in enumerate(inputs) if not isinstance(text, str)]
    if bad:
        raise TypeError(f"{what}[{bad[0]}] must be a str, got {type(inputs[bad[0]]).__name__}")
    if not inputs:
        raise ValueError(f"{what} is empty: nothing to read")
    return inputs


def _known(vocab: Vocab, text: str, index: int, what: str) -> list[int]:
    """Ids of a vocabulary without <UNK> (a character LM's): every token must be in it."""
    tokens = vocab.tokenizer(text)
    unknown = sorted({t for t in tokens if t not in vocab})
    if unknown:
        raise ValueError(f"{what}[{index}] has {len(unknown)} token(s) outside the vocabulary, which has no <UNK>: {unknown[:10]}")
    return [vocab.id(t) for t in tokens]

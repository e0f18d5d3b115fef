"""The generator interface: every model that emits tokens says how decoding starts from its
inputs, and ``generate`` alone runs greedy decoding, sampling or beam search over it.

    class Generator(Protocol):
        def decode_start(self, params, *inputs, max_length, attention=False) -> DecodeStart: ...
        def step(self, params, state, token) -> (state, logits [n, vocab]): ...

``decode_start`` reads the model's inputs (a source batch and its lengths, images, a prompt),
checks them, and returns the step's parameters (prepared once for the loop), the state before
the first token, the first tokens, the ids that end and pad a sequence, and what to record per
step (attention weights) when ``attention=True``. ``step`` is ``seqjax.decoding``'s step function.
The recurrent and transformer seq2seq models, the captioner and both language models (recurrent
and transformer) implement it; each model's ``generate`` is one call of ``generate(self, ...)``:

    out = generate(model, params, source, source_lengths, max_length=50, method="beam", beam_width=5)
    texts, weights = generate_all(model, params, sources, batch_size=128, buckets=(16, 32, 64),
                                  method="beam", render=lambda ids: " ".join(vocab.tokens[i] for i in ids))

``generate_all`` decodes a whole dataset in order: batches of fixed shape (the last one filled
with copies of its first example, so nothing recompiles), token lists padded to buckets, the best
hypothesis of each example cut at its end, rendered, with its attention weights on request.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, NamedTuple, Protocol, Sequence, runtime_checkable

import jax
import numpy as np

from seqjax.decoding.search import Decoded, check_method, decode
from seqjax.core.types import Array, Params, PRNGKey, State


class DecodeStart(NamedTuple):
    """What a model hands to the decoding loop (``Generator.decode_start``)."""

    params: Params                  # the step's parameters, prepared for the loop
    state: State                    # before the first token, [b, ...]
    tokens: Array                   # [b] int: the first token each row's step reads (<GO>, a prompt's last)
    eos_id: int | None              # the token that ends a sequence (None: none does)
    pad_id: int = 0                 # what fills a sequence after its end
    record: Callable | None = None  # record(state) kept at every step (attention weights), or None


@runtime_checkable
class Generator(Protocol):
    """A model that emits tokens (see the module doc)."""

    def decode_start(self, params: Params, *inputs: Any, max_length: int, attention: bool = False) -> DecodeStart: ...

    def step(self, params: Params, state: State, token: Array) -> tuple[State, Array]: ...


def _start_and_decode(model, params, inputs, *, max_length, method, attention, eos_id, **options) -> tuple[DecodeStart, Decoded]:
    check_method(method)
    if not isinstance(model, Generator):
        raise TypeError(f"generate needs a model with decode_start and step (seqjax.decoding.Generator), got {type(model).__name__}")
    start = model.decode_start(params, *inputs, max_length=max_length, attention=attention)
    if eos_id is not None:
        start = start._replace(eos_id=eos_id)
    return start, decode(method, model.step, start.params, start.state, start.tokens, max_length=max_length, eos_id=start.eos_id,
                         pad_id=start.pad_id, record=start.record, **options)


def generate(model: Generator, params: Params, *inputs: Any, max_length: int, method: str = "greedy", beam_width: int = 5,
             length_penalty: float = 0.0, key: PRNGKey | None = None, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, eos_id: int | None = None, attention: bool = False,
             early_stopping: str = "heuristic", length_norm: str = "gnmt") -> Decoded:
    """``model``'s output for ``inputs`` by ``method`` ("greedy", "beam" or "sample", with the options
    of ``seqjax.decoding.greedy``, ``beam`` and ``sample``); ``eos_id`` overrides the model's.
    ``attention=True`` also returns each step's attention weights in ``records``."""
    return _start_and_decode(model, params, inputs, max_length=max_length, method=method, attention=attention, eos_id=eos_id,
                             beam_width=beam_width, length_penalty=length_penalty, key=key, temperature=temperature, top_k=top_k,
                             top_p=top_p, early_stopping=early_stopping, length_norm=length_norm)[1]


def default_method(method: str | None, options: dict, model: str) -> str:
    """``generate``'s method for a language model: "greedy" unless given, as for every model. Earlier
    releases sampled by default; a call with a ``key`` and no ``method`` still samples for one release,
    with a DeprecationWarning."""
    if method is not None:
        return method
    if options.get("key") is not None:
        warnings.warn(f"{model}.generate: the default method is now 'greedy', as for every model; this call passes key= "
                      "and no method, so it samples as before; pass method='sample' to keep sampling", DeprecationWarning, stacklevel=3)
        return "sample"
    return "greedy"


def check_prompt(prompt, vocab_size: int) -> Array:
    """A language model's ``prompt``: int ids ``[batch, length >= 1]`` in ``[0, vocab_size)``, or a ValueError saying which."""
    prompt = jax.numpy.asarray(prompt)
    if prompt.ndim != 2 or prompt.shape[1] < 1 or not jax.numpy.issubdtype(prompt.dtype, jax.numpy.integer):
        raise ValueError(f"prompt must be int token ids of shape [batch, length >= 1], got {prompt.dtype} {tuple(prompt.shape)}")
    if int(prompt.min()) < 0 or int(prompt.max()) >= vocab_size:
        raise ValueError(f"prompt ids must lie in [0, {vocab_size}), got [{int(prompt.min())}, {int(prompt.max())}]")
    return prompt


def check_prompt_lengths(lengths, prompt: Array) -> np.ndarray | None:
    """A language model's prompt ``lengths``: None (every row is ``prompt.shape[1]`` long) or ints
    ``[batch]`` in ``[1, prompt.shape[1]]`` (each row's prompt, right-padded), as a NumPy array, or a
    ValueError saying which. Hugging Face's left-padded ``input_ids`` with an ``attention_mask`` are
    the same prompts moved to the left of the row, with ``lengths = attention_mask.sum(1)``."""
    if lengths is None:
        return None
    lengths = np.asarray(lengths)
    if lengths.shape != prompt.shape[:1] or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be ints of shape [batch={prompt.shape[0]}] (each prompt's tokens), got {lengths.dtype} "
                         f"{tuple(lengths.shape)}")
    if lengths.min() < 1 or lengths.max() > prompt.shape[1]:
        raise ValueError(f"lengths must lie in [1, {prompt.shape[1]}] (the prompt's length), got [{lengths.min()}, {lengths.max()}]")
    return lengths


def pad_token_lists(examples: Sequence[Sequence[int]], buckets: Sequence[int] | None = None, pad_id: int = 0) -> tuple[Array, Array]:
    """Token lists as ``(ids [b, L], lengths [b])``, ``L`` the bucket of the longest (or the longest)."""
    from seqjax.data.batching import bucket_length, pad

    longest = max(len(e) for e in examples)
    return pad(examples, bucket_length(longest, buckets) if buckets else longest, pad_id=pad_id)


def generate_all(model: Generator, params: Params, examples: Sequence, *, batch_size: int, max_length: int, method: str = "greedy",
                 collate: Callable[[list], tuple] | None = None, buckets: Sequence[int] | None = None,
                 render: Callable[[list[int]], Any] | None = None, attention: bool = False, key: PRNGKey | None = None,
                 eos_id: int | None = None, **options) -> tuple[list, list | None]:
    """Decodes every example, in order: ``(outputs, weights)``.

    ``examples`` are token lists (padded to ``buckets`` into ``(ids, lengths)``) or anything that
    ``collate(chunk) -> inputs`` batches (e.g. ``lambda chunk: (np.stack(chunk),)`` for images).
    Each output is the best hypothesis's tokens before its EOS, passed through ``render`` when
    given; ``weights`` holds each one's attention records with ``attention=True`` (else None).
    ``options`` are ``generate``'s (``beam_width``, ``length_penalty``, ...); sampling folds each
    batch's first index into ``key``."""
    if collate is None:
        collate = lambda chunk: pad_token_lists(chunk, buckets)  # noqa: E731
    size = min(batch_size, len(examples))
    outputs, weights = [], [] if attention else None
    for begin in range(0, len(examples), max(size, 1)):
        chunk = list(examples[begin: begin + size])
        real = len(chunk)
        chunk += [chunk[0]] * (size - real)  # one shape for every batch: nothing recompiles
        start, out = _start_and_decode(model, params, collate(chunk), max_length=max_length, method=method, attention=attention,
                                       eos_id=eos_id, key=None if key is None else jax.random.fold_in(key, begin), **options)
        best = (lambda x: x[:, 0]) if out.tokens.ndim == 3 else (lambda x: x)  # noqa: E731
        tokens, lengths = np.asarray(best(out.tokens)), np.asarray(best(out.lengths))
        records = None if out.records is None else jax.tree_util.tree_map(lambda r: np.asarray(best(r)), out.records)
        for row in range(real):
            ids = tokens[row, : lengths[row]].tolist()
            if ids and ids[-1] == start.eos_id:
                ids = ids[:-1]
            outputs.append(render(ids) if render is not None else ids)
            if attention:
                weights.append(jax.tree_util.tree_map(lambda r: r[row], records))
    return outputs, weights

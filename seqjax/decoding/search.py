"""The decoding loops: greedy, sampling (temperature, top-k, top-p) and beam search over any step
function ``step_fn(params, state, token) -> (state, logits)`` (the conventions are in
``seqjax.decoding``'s doc)."""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from seqjax.core.masking import is_constant
from seqjax.core.types import Array, Params, PRNGKey, State

StepFn = Callable[[Params, State, Array], tuple[State, Array]]
NEG_INF = -jnp.inf


class Decoded(NamedTuple):
    """What every method returns. The fields keep each method's natural shape (greedy and sampling
    ``[b, L]``, beam search ``[b, k, L]``, best first); ``best`` and ``hypotheses`` give one shape for
    every method, so that a caller never branches on the method."""

    tokens: Array      # [b, L] int32 (beam search: [b, k, L], best first)
    lengths: Array     # [b] (beam search: [b, k]) tokens up to and including EOS
    scores: Array      # [b] (beam search: [b, k]) what the method ranked by (see the module doc)
    log_probs: Array   # [b] (beam search: [b, k]) sum of the tokens' log-probabilities
    records: Any = None  # record(state) at every step, or None

    @property
    def is_beam(self) -> bool:
        return self.lengths.ndim == 2

    @property
    def best(self) -> "Decoded":
        """The best hypothesis of each sentence for every method: ``tokens [b, L]``, ``lengths [b]``, ..."""
        return jax.tree_util.tree_map(lambda x: x[:, 0], self) if self.is_beam else self

    @property
    def hypotheses(self) -> "Decoded":
        """Every hypothesis, best first, for every method: ``tokens [b, k, L]`` (k = 1 for greedy and sampling)."""
        return self if self.is_beam else jax.tree_util.tree_map(lambda x: x[:, None], self)


# --- checks --------------------------------------------------------------------------------------


def _check(start_tokens: Array, max_length: int) -> None:
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
        raise ValueError(f"max_length must be a positive int (the most tokens to generate), got {max_length!r}")
    if start_tokens.ndim != 1 or not jnp.issubdtype(start_tokens.dtype, jnp.integer):
        raise ValueError(f"start_tokens must be an int array of shape [batch], got {start_tokens.dtype} {tuple(start_tokens.shape)}")


def _logits(step_fn: StepFn, params, state, token) -> tuple[State, Array]:
    state, logits = step_fn(params, state, token)
    if logits.ndim != 2 or logits.shape[0] != token.shape[0]:
        raise ValueError(f"step_fn must return logits of shape [{token.shape[0]}, vocab] for {token.shape[0]} tokens, "
                         f"got {tuple(logits.shape)}")
    return state, logits.astype(jnp.float32)


def _record_buffer(record, state, shape_prefix: tuple[int, ...]):
    """Zeros ``[*shape_prefix, ...]`` for every leaf of ``record(state)`` (per-example leaves)."""
    if record is None:
        return None
    spec = jax.eval_shape(record, state)
    return jax.tree_util.tree_map(lambda s: jnp.zeros(shape_prefix + s.shape[1:], s.dtype), spec)


# --- greedy and sampling -----------------------------------------------------------------------


def filter_logits(logits: Array, *, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> Array:
    """``logits / temperature`` with everything outside the ``top_k`` largest and outside the
    smallest set whose probability reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020)
    set to −inf. The most likely token always stays. ``temperature`` must be > 0 here."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits < kth, NEG_INF, logits)
    if top_p is not None and top_p < 1.0:
        probs = jax.nn.softmax(logits, axis=-1)
        ordered = jnp.sort(probs, axis=-1)[..., ::-1]
        before = jnp.cumsum(ordered, axis=-1) - ordered  # probability of the tokens ranked above
        # the smallest kept probability: the last token whose predecessors sum to less than top_p
        threshold = jnp.min(jnp.where(before < top_p, ordered, jnp.inf), axis=-1, keepdims=True)
        logits = jnp.where(probs < threshold, NEG_INF, logits)
    return logits


def _check_sampling(temperature, top_k, top_p) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0 picks the most likely token), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must lie in (0, 1] or be None, got {top_p!r}")


@functools.partial(jax.jit, static_argnames=("step_fn", "max_length", "eos_id", "pad_id", "temperature", "top_k", "top_p", "record"))
def _generate(step_fn, params, state, start_tokens, key, *, max_length, eos_id, pad_id, temperature, top_k, top_p, record):
    b = start_tokens.shape[0]
    records0 = _record_buffer(record, jax.eval_shape(lambda: _logits(step_fn, params, state, start_tokens)[0]), (b, max_length))

    def choose(logits, i):
        if temperature == 0:
            return jnp.argmax(logits, axis=-1)
        filtered = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)
        return jax.random.categorical(jax.random.fold_in(key, i), filtered, axis=-1)

    def body(carry):
        i, state, token, tokens, done, lengths, log_probs, records = carry
        state, logits = _logits(step_fn, params, state, token)
        token = choose(logits, i).astype(jnp.int32)
        token_logp = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), token[:, None], axis=-1)[:, 0]
        live = ~done
        token = jnp.where(live, token, pad_id)
        tokens = tokens.at[:, i].set(token)
        log_probs = log_probs + jnp.where(live, token_logp, 0.0)
        lengths = lengths + live.astype(jnp.int32)
        if record is not None:
            records = jax.tree_util.tree_map(
                lambda buf, r: buf.at[:, i].set(jnp.where(live.reshape((b,) + (1,) * (r.ndim - 1)), r, jnp.zeros_like(r))),
                records, record(state))
        if eos_id is not None:
            done = done | (token == eos_id)
        return i + 1, state, token, tokens, done, lengths, log_probs, records

    def cond(carry):
        i, done = carry[0], carry[4]
        return (i < max_length) & ~jnp.all(done)

    carry = (jnp.int32(0), state, start_tokens.astype(jnp.int32), jnp.full((b, max_length), pad_id, jnp.int32),
             jnp.zeros((b,), bool), jnp.zeros((b,), jnp.int32), jnp.zeros((b,), jnp.float32), records0)
    _, _, _, tokens, _, lengths, log_probs, records = jax.lax.while_loop(cond, body, carry)
    return Decoded(tokens, lengths, log_probs, log_probs, records)


def greedy(step_fn: StepFn, params: Params, state: State, start_tokens: Array, *, max_length: int,
           eos_id: int | None = None, pad_id: int = 0, record: Callable | None = None) -> Decoded:
    """The most likely token at every step (argmax), until ``eos_id`` or ``max_length`` tokens."""
    start_tokens = jnp.asarray(start_tokens)
    _check(start_tokens, max_length)
    return _generate(step_fn, params, state, start_tokens, jax.random.key(0), max_length=max_length, eos_id=eos_id,
                     pad_id=pad_id, temperature=0.0, top_k=None, top_p=None, record=record)


def sample(step_fn: StepFn, params: Params, state: State, start_tokens: Array, *, key: PRNGKey, max_length: int,
           eos_id: int | None = None, pad_id: int = 0, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, record: Callable | None = None) -> Decoded:
    """Samples each token from ``softmax(logits / temperature)``, restricted to the ``top_k``
    most likely tokens and to the nucleus of probability ``top_p`` (see ``filter_logits``).
    ``temperature=0`` is greedy; ``top_k=1`` is greedy too. The same ``key`` gives the same
    tokens (step ``i`` samples with ``fold_in(key, i)``)."""
    start_tokens = jnp.asarray(start_tokens)
    _check(start_tokens, max_length)
    _check_sampling(temperature, top_k, top_p)
    return _generate(step_fn, params, state, start_tokens, key, max_length=max_length, eos_id=eos_id, pad_id=pad_id,
                     temperature=float(temperature), top_k=top_k, top_p=None if top_p is None else float(top_p), record=record)


# --- beam search -------------------------------------------------------------------------------


def tile_beams(tree: Any, beam_width: int) -> Any:
    """Repeats every leaf ``[b, ...]`` ``beam_width`` times: ``[b·k, ...]``, example-major
    (rows ``i·k .. i·k + k − 1`` belong to example ``i``)."""
    return jax.tree_util.tree_map(lambda x: jnp.repeat(x, beam_width, axis=0), tree)


def reorder_beams(tree: Any, source: Array) -> Any:
    """Row ``(i, j)`` of every leaf ``[b·k, ...]`` becomes row ``(i, source[i, j])``; ``Constant``
    parts stay (every beam of a sentence holds the same copy)."""
    b, k = source.shape

    def gather(x):
        if is_constant(x):
            return x
        rows = x.reshape((b, k) + x.shape[1:])
        index = source.reshape((b, k) + (1,) * (x.ndim - 1))
        return jnp.take_along_axis(rows, index, axis=1).reshape(x.shape)

    return jax.tree_util.tree_map(gather, tree, is_leaf=is_constant)


def _take(x: Array, index: Array) -> Array:
    """``x [b, n, ...]`` at ``index [b, m]`` along axis 1: ``[b, m, ...]``."""
    return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)


LENGTH_NORMS = ("gnmt", "power")


def length_penalty_of(length: Array, alpha: float, norm: str | Array = "gnmt") -> Array:
    """The divisor of a hypothesis's log-probability: GNMT's ``lp(Y) = ((5 + |Y|) / 6) ** α``
    (``norm="gnmt"``, Wu et al. 2016), or ``|Y| ** α`` (``norm="power"``: Hugging Face's
    ``length_penalty``). ``|Y|`` counts the generated tokens, the ending EOS included. ``norm`` may
    be an index into ``LENGTH_NORMS`` (traced, as inside ``beam``)."""
    length = length.astype(jnp.float32)
    index = LENGTH_NORMS.index(norm) if isinstance(norm, str) else norm
    return jnp.where(index == LENGTH_NORMS.index("power"), length, (5.0 + length) / 6.0) ** alpha


class _Beams(NamedTuple):
    seqs: Array       # [b, n, L]
    log_probs: Array  # [b, n]
    scores: Array     # [b, n]
    lengths: Array    # [b, n]
    records: Any      # [b, n, L, ...] leaves, or None


def _top(beams: _Beams, k: int) -> _Beams:
    """The ``k`` beams of highest score, best first."""
    _, index = jax.lax.top_k(beams.scores, k)
    return jax.tree_util.tree_map(lambda x: _take(x, index), beams)


def _join(a: _Beams, b: _Beams) -> _Beams:
    return jax.tree_util.tree_map(lambda x, y: jnp.concatenate([x, y], axis=1), a, b)


EARLY_STOPPING = ("heuristic", "exact", "finished")


def _sentence_done(rule: Array, finished: _Beams, alive: _Beams, length: Array, max_length: int, alpha: Array, norm: Array) -> Array:
    """``[b]``: whether each sentence's search may stop after ``length`` tokens, by the rule
    ``EARLY_STOPPING[rule]`` (traced, so the three rules share one compilation; see ``beam``)."""
    kth = finished.scores[:, -1]
    # the best live hypothesis: as it stands ("heuristic"), or the most it could still score ("exact":
    # log-probs only fall, and for α >= 0 a penalty lifts a negative score most at max_length)
    at = jnp.where(rule == EARLY_STOPPING.index("exact"), max_length, length)
    beaten = kth >= alive.log_probs[:, 0] / length_penalty_of(at, alpha, norm)
    return jnp.where(rule == EARLY_STOPPING.index("finished"), kth > NEG_INF, beaten)


def _empty_slots(beams: _Beams, pad_id: int) -> _Beams:
    """Slots with no hypothesis (score −inf: fewer possible hypotheses than beams) hold ``pad`` tokens,
    length 0 and zero records, whatever rows the top-k happened to gather into them."""
    empty = beams.scores == NEG_INF
    blank = lambda x, fill: jnp.where(empty.reshape(empty.shape + (1,) * (x.ndim - 2)), fill, x)  # noqa: E731
    return _Beams(seqs=blank(beams.seqs, pad_id), log_probs=jnp.where(empty, NEG_INF, beams.log_probs), scores=beams.scores,
                  lengths=jnp.where(empty, 0, beams.lengths),
                  records=jax.tree_util.tree_map(lambda r: blank(r, jnp.zeros((), r.dtype)), beams.records))


@functools.partial(jax.jit, static_argnames=("step_fn", "beam_width", "max_length", "eos_id", "pad_id", "record"))
def _beam_search(step_fn, params, state, start_tokens, length_penalty, length_norm, early_stopping, *, beam_width, max_length, eos_id, pad_id,
                 record):
    b, k, L = start_tokens.shape[0], beam_width, max_length
    state = tile_beams(state, k)
    vocab = jax.eval_shape(lambda: _logits(step_fn, params, state, tile_beams(start_tokens, k))[1]).shape[-1]
    n = min(2 * k, k * vocab)  # candidates per step: even if k of them end with EOS, k others stay alive
    records0 = _record_buffer(record, jax.eval_shape(lambda: _logits(step_fn, params, state, tile_beams(start_tokens, k))[0]), (b, k, L))
    # only the first beam of each sentence is live at the start; the others are empty
    alive = _Beams(jnp.full((b, k, L), pad_id, jnp.int32), jnp.tile(jnp.array([0.0] + [NEG_INF] * (k - 1)), (b, 1)),
                   jnp.zeros((b, k)), jnp.zeros((b, k), jnp.int32), records0)
    finished = alive._replace(log_probs=jnp.full((b, k), NEG_INF), scores=jnp.full((b, k), NEG_INF))

    def body(carry):
        i, state, last, alive, finished, done = carry
        state, logits = _logits(step_fn, params, state, last)
        step_logp = jax.nn.log_softmax(logits, axis=-1).reshape(b, k, vocab)
        total = (alive.log_probs[:, :, None] + step_logp).reshape(b, k * vocab)
        cand_logp, flat = jax.lax.top_k(total, n)
        source, token = flat // vocab, (flat % vocab).astype(jnp.int32)
        seqs = _take(alive.seqs, source).at[:, :, i].set(token)
        records = None
        if record is not None:
            now = jax.tree_util.tree_map(lambda r: r.reshape((b, k) + r.shape[1:]), record(state))
            records = jax.tree_util.tree_map(lambda buf, r: _take(buf, source).at[:, :, i].set(_take(r, source)), alive.records, now)
        length = jnp.full((b, n), i + 1, jnp.int32)
        ends = token == eos_id if eos_id is not None else jnp.zeros_like(token, bool)
        candidates = _Beams(seqs, cand_logp, cand_logp, length, records)
        # a hypothesis ends only if it ranks among the k best candidates (as in fairseq): an EOS
        # below rank k would not have survived in a beam of k, so beam_width=1 is greedy exactly
        finishing = ends & (jnp.arange(n) < k)
        penalised = cand_logp / length_penalty_of(length, length_penalty, length_norm)
        finished = _top(_join(finished, candidates._replace(scores=jnp.where(finishing, penalised, NEG_INF))), k)
        live = jnp.where(ends, NEG_INF, cand_logp)
        _, keep = jax.lax.top_k(live, k)
        alive = jax.tree_util.tree_map(lambda x: _take(x, keep), candidates._replace(log_probs=live, scores=live))
        state = reorder_beams(state, _take(source, keep))
        # a sentence that is done keeps its finished list and has no live hypothesis any more, so
        # nothing changes it while other sentences of the batch go on
        done = done | _sentence_done(early_stopping, finished, alive, i + 1, L, length_penalty, length_norm)
        alive = alive._replace(log_probs=jnp.where(done[:, None], NEG_INF, alive.log_probs))
        return i + 1, state, alive.seqs[:, :, i].reshape(b * k), alive, finished, done

    def cond(carry):
        i, done = carry[0], carry[-1]
        return (i < L) & ~jnp.all(done)

    carry = (jnp.int32(0), state, tile_beams(start_tokens.astype(jnp.int32), k), alive, finished, jnp.zeros((b,), bool))
    _, _, _, alive, finished, _ = jax.lax.while_loop(cond, body, carry)
    # live hypotheses remain only in sentences whose search reached max_length: they end there
    timed_out = alive._replace(scores=alive.log_probs / length_penalty_of(alive.lengths, length_penalty, length_norm))
    best = _empty_slots(_top(_join(finished, timed_out), k), pad_id)
    return Decoded(best.seqs, best.lengths, best.scores, best.log_probs, best.records)


def beam(step_fn: StepFn, params: Params, state: State, start_tokens: Array, *, beam_width: int, max_length: int,
         eos_id: int | None, pad_id: int = 0, length_penalty: float = 0.0, record: Callable | None = None,
         early_stopping: str = "heuristic", length_norm: str = "gnmt") -> Decoded:
    """The ``beam_width`` best hypotheses per sentence, best first (see the module doc for scores).

    Each step extends every live hypothesis by every token and ranks the extensions. Those
    among the ``beam_width`` best that end with ``eos_id`` join the sentence's list of its
    ``beam_width`` best finished hypotheses (fairseq's rule: an EOS ranked lower would not have
    survived in a beam of that width, so ``beam_width=1`` is greedy decoding exactly); the
    ``beam_width`` best that do not end stay live (the state follows each to its parent's row).
    Each sentence stops by ``early_stopping``'s rule, independently of the others in the batch
    (a stopped sentence no longer changes). It returns the sentence's finished hypotheses; only
    a sentence whose search reached ``max_length`` also ranks its live hypotheses there, as
    hypotheses of ``max_length`` tokens. No mode returns an unfinished hypothesis shorter than
    ``max_length``.

    A finished hypothesis scores its log-probability over ``length_penalty_of(|Y|, α, length_norm)``:
    GNMT's ``((5 + |Y|) / 6) ** α`` (``length_norm="gnmt"``) or ``|Y| ** α`` (``"power"``), ``|Y|``
    its tokens with the EOS, α = ``length_penalty``. ``length_norm="power"`` with
    ``early_stopping="finished"`` is Hugging Face ``generate``'s beam search with
    ``early_stopping=True`` (checked token for token against GPT-2 in ``tests/test_gpt2.py``): the
    ``2·beam_width`` best extensions, an EOS among the first ``beam_width`` of them finishing, the
    ``beam_width`` best others live, a sentence stopping once it has ``beam_width`` finished; at
    ``max_length`` every live hypothesis ends (of the same length, only the ``beam_width`` best of
    them can rank, as only the first ``beam_width`` extensions end in Hugging Face).

    ``early_stopping`` (each rule per sentence, checked after every step; α = ``length_penalty``):

      "exact"      stops when no live hypothesis could beat the k-th finished one even if every
                   further token had probability one (its log-prob over the penalty at
                   ``max_length``). Guarantee: the result is that of running the same search to
                   ``max_length`` with no early stop. With α > 0 the bound is loose and the search
                   often runs to ``max_length``. A beam wide enough to keep every prefix (at least
                   ``vocab · (vocab − 1) ** (max_length − 1)``) is then an exhaustive search: the best
                   sequence of all, ended by EOS or ``max_length``.
      "heuristic"  stops when the best live hypothesis, scored as it stands, does not beat the
                   k-th finished one (Hugging Face's ``early_stopping=False``, with GNMT's
                   penalty). The same as "exact" for α = 0; for α > 0 it may miss a longer
                   hypothesis that a gentler penalty would have lifted.
      "finished"   stops as soon as the sentence has ``beam_width`` finished hypotheses (fairseq;
                   Hugging Face's ``early_stopping=True``), and returns those.

    ``beam_width`` may exceed the vocabulary: a sentence then keeps fewer hypotheses than beams
    until enough exist. Slots that no possible hypothesis fills (e.g. a vocabulary of 4 and one
    step, with ``beam_width`` 6) come last with score and log-prob −inf, length 0 and ``pad_id``
    tokens. ``length_penalty``, ``length_norm`` and ``early_stopping`` are traced: changing them
    does not recompile.
    """
    start_tokens = jnp.asarray(start_tokens)
    _check(start_tokens, max_length)
    if not isinstance(beam_width, int) or isinstance(beam_width, bool) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    if not (isinstance(length_penalty, (int, float)) and math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"length_penalty (GNMT's α) must be a finite number >= 0, got {length_penalty!r}")
    if early_stopping not in EARLY_STOPPING:
        raise ValueError(f"early_stopping must be one of {EARLY_STOPPING}, got {early_stopping!r}")
    if length_norm not in LENGTH_NORMS:
        raise ValueError(f"length_norm must be one of {LENGTH_NORMS}, got {length_norm!r}")
    return _beam_search(step_fn, params, state, start_tokens, jnp.float32(length_penalty), jnp.int32(LENGTH_NORMS.index(length_norm)),
                        jnp.int32(EARLY_STOPPING.index(early_stopping)), beam_width=beam_width, max_length=max_length,
                        eos_id=eos_id, pad_id=pad_id, record=record)


def beam_search(*args, **kwargs) -> Decoded:
    """``beam`` under its earlier name (one release, with a DeprecationWarning): the loop functions are
    named as the methods are, ``greedy``, ``sample`` and ``beam``."""
    warnings.warn("seqjax.decoding.beam_search is now seqjax.decoding.beam (named as method='beam')", DeprecationWarning, stacklevel=2)
    return beam(*args, **kwargs)


METHODS = ("greedy", "beam", "sample")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be 'greedy', 'beam' or 'sample', got {method!r}")


def decode(method: str, step_fn: StepFn, params: Params, state: State, start_tokens: Array, *, max_length: int,
           eos_id: int | None, pad_id: int = 0, beam_width: int = 5, length_penalty: float = 0.0, key: PRNGKey | None = None,
           temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           record: Callable | None = None, early_stopping: str = "heuristic", length_norm: str = "gnmt") -> Decoded:
    """``greedy``, ``beam`` or ``sample`` by name (``method`` "greedy", "beam", "sample"), with
    the arguments each takes: what every model's ``generate`` calls."""
    check_method(method)
    common = dict(max_length=max_length, eos_id=eos_id, pad_id=pad_id, record=record)
    if method == "greedy":
        return greedy(step_fn, params, state, start_tokens, **common)
    if method == "sample":
        if key is None:
            raise ValueError("method='sample' needs key=")
        return sample(step_fn, params, state, start_tokens, key=key, temperature=temperature, top_k=top_k, top_p=top_p, **common)
    return beam(step_fn, params, state, start_tokens, beam_width=beam_width, length_penalty=length_penalty,
                early_stopping=early_stopping, length_norm=length_norm, **common)

"""Decoding: greedy, sampling (temperature, top-k, top-p) and beam search, for every model that generates.

Two files: ``search.py`` holds the loops over a step function, ``generator.py`` the interface a
model implements (``Generator``: ``decode_start`` and ``step``), ``generate`` over it, and
``generate_all``, which decodes a whole dataset for every experiment.

One protocol: a step function ``step_fn(params, state, token) -> (state, logits)`` that
reads the previous token ``[n]`` (int) and returns the next token's logits ``[n, v]``. An RNN
language model, an attention seq2seq and a transformer with a key/value cache all fit it::

    out = greedy(model.step, params, state, start_tokens, max_length=50, eos_id=EOS_ID)
    out = sample(model.step, params, state, start_tokens, key=key, max_length=50, top_p=0.9)
    out = beam(model.step, params, state, start_tokens, beam_width=5, max_length=50,
                      eos_id=EOS_ID, length_penalty=0.6)
    out.tokens, out.lengths, out.scores        # [b, L] (beam: [b, k, L], best first), ...

Everything runs inside one ``jit`` with fixed shapes: a ``lax.while_loop`` over at most
``max_length`` steps that stops early once every sequence (every beam) is finished, batched
over sentences. ``step_fn`` and ``record`` are static arguments: pass the same function object
each time (a model's bound method is fine; a new ``lambda`` per call recompiles).

Conventions:
  * ``tokens`` hold the generated tokens, the ``eos_id`` that ends a sequence included, then
    ``pad_id``; ``lengths`` count the tokens up to and including that EOS (``max_length`` for
    a sequence that never ended);
  * ``log_probs`` is the sum of the chosen tokens' log-probabilities (from the raw logits);
    ``scores`` is what the method ranks by: ``log_probs`` for greedy and sampling, and for beam
    search ``log_probs / lp`` with GNMT's length penalty ``lp = ((5 + length) / 6) ** α``
    (Wu et al. 2016; α = ``length_penalty``, 0 for none), or ``lp = length ** α`` with
    ``length_norm="power"`` (Hugging Face's);
  * ``record(state)``, if given, is kept for every step (``[b, L, ...]``; beam ``[b, k, L, ...]``,
    following each hypothesis): e.g. an attention decoder's weights, for plots.

A state may carry ``seqjax.Constant`` parts (an encoder memory): beam search copies them once
per beam and never reorders them, since all beams of a sentence share the same copy.
"""

from seqjax.decoding.generator import check_prompt as check_prompt, check_prompt_lengths as check_prompt_lengths, DecodeStart as DecodeStart, Generator as Generator, generate as generate, generate_all as generate_all, pad_token_lists as pad_token_lists
from seqjax.decoding.search import EARLY_STOPPING as EARLY_STOPPING, LENGTH_NORMS as LENGTH_NORMS, METHODS as METHODS, Decoded as Decoded, StepFn as StepFn, beam as beam, beam_search as beam_search, check_method as check_method, decode as decode, filter_logits as filter_logits, greedy as greedy, length_penalty_of as length_penalty_of, reorder_beams as reorder_beams, sample as sample, tile_beams as tile_beams

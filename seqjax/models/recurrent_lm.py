"""A recurrent language model (Karpathy's char-rnn): many to many, one token in, the next one out.

    ids ─embed─> cell (any seqjax cell or Stack) ─> dense readout ─> logits of the next token

Trained statefully (truncated backpropagation through time): each window continues from the
state the previous window ended in, so ``logits`` takes and returns the state. Generation feeds
the prompt through ``unroll`` and then one token per ``step`` through ``seqjax.decoding``::

    model = RecurrentLM(vocab_size=65, cell=seqjax.LSTM(64, 512))
    params = model.init(key)                              # {"embed": [v, e], "cell": ..., "out": {"w", "b"}}
    logits, state = model.logits(params, ids, model.cell.initial_state(b))
    out = model.generate(params, prompt, method="sample", key=key, max_length=400, temperature=0.8)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from seqjax import decoding
from seqjax.cells.protocol import Cell
from seqjax.core.compiled import compiled
from seqjax.core.checks import check_positive
from seqjax.kernels.options import DEFAULT, ScanOptions
from seqjax.layers.dense import dense
from seqjax.core.types import Array, Params, PRNGKey, State
from seqjax.data.batching import batch_key
from seqjax.sequences.unroll import unroll
from seqjax.train.losses import cross_entropy


@dataclasses.dataclass(frozen=True)
class RecurrentLM:
    """Embedding, ``cell`` and a dense readout over ``vocab_size`` tokens; the embedding size is
    ``cell.input_size``. A frozen dataclass: its ``step`` is a stable function for ``seqjax.decoding``."""

    vocab_size: int
    cell: Cell

    def __post_init__(self):
        check_positive(self, "vocab_size")
        if not isinstance(self.cell, Cell):
            raise ValueError(f"RecurrentLM.cell must be a seqjax cell (e.g. seqjax.LSTM(64, 512)), got {type(self.cell).__name__}")

    def init(self, key: PRNGKey) -> Params:
        """Embedding N(0, 0.1²), the cell's own initialisation, readout N(0, 1/hidden) and zero bias."""
        k_embed, k_cell, k_out = jax.random.split(key, 3)
        hidden = self.cell.output_dim
        return {"embed": jax.random.normal(k_embed, (self.vocab_size, self.cell.input_size)) * 0.1,
                "cell": self.cell.init(k_cell),
                "out": {"w": jax.random.normal(k_out, (hidden, self.vocab_size)) / np.sqrt(hidden), "b": jnp.zeros(self.vocab_size)}}

    @compiled
    def logits(self, params: Params, inputs: Array, state: State | None = None, *, options: ScanOptions = DEFAULT) -> tuple[Array, State]:
        """``inputs [b, t]`` ids from ``state`` (None: a fresh one) -> ``(logits [b, t, v], state after)``;
        ``options`` are ``unroll``'s (``seqjax.ScanOptions``: remat, cuDNN)."""
        state = self.cell.initial_state(inputs.shape[0]) if state is None else state
        ys, state = unroll(self.cell, params["cell"], params["embed"][inputs], initial_state=state, options=options)
        return dense(ys, params["out"]["w"], params["out"]["b"]), state

    @compiled
    def loss(self, params: Params, batch: dict, key: PRNGKey | None = None, *, options: ScanOptions = DEFAULT):
        """``(mean loss, sums)``: ``batch["ids"] [b, t]`` predicting ``batch["targets"] [b, t]`` from a fresh
        state (optional ``batch["lengths"]``), as ``TransformerLM.loss``; ``key`` is unused (the model
        has no dropout). Truncated BPTT, which carries the state from batch to batch, writes its own
        loss around ``logits`` (``experiments/char_lm.py``)."""
        logits, _ = self.logits(params, batch_key(batch, "ids"), options=options)
        return cross_entropy(logits, batch["targets"], lengths=batch.get("lengths"))

    # --- generation: seqjax.decoding.Generator ----------------------------------------------------

    def decode_start(self, params: Params, prompt: Array, lengths: Array | None = None, *, max_length: int,
                     attention: bool = False) -> decoding.DecodeStart:
        """``prompt [b, t]`` read but for its last token, which the first step reads; ``lengths [b]``:
        right-padded prompts of different lengths (each row's state stops at its own prompt's end);
        the cell's weight slices taken once for the loop (``prepare_loop``); no token ends a sequence
        unless ``generate``'s ``eos_id`` says so."""
        if attention:
            raise ValueError("attention=True: a RecurrentLM has no attention to record")
        prompt = decoding.check_prompt(prompt, self.vocab_size)
        lengths = decoding.check_prompt_lengths(lengths, prompt)
        if lengths is None:
            _, state = self.logits(params, prompt[:, :-1])
            first = prompt[:, -1]
        else:
            _, state = unroll(self.cell, params["cell"], params["embed"][prompt[:, :-1]], lengths=jnp.asarray(lengths - 1),
                              initial_state=self.cell.initial_state(prompt.shape[0]))
            first = prompt[jnp.arange(prompt.shape[0]), lengths - 1]
        loop = {**params, "cell": self.cell.prepare_loop(params["cell"])}
        return decoding.DecodeStart(loop, state, first.astype(jnp.int32), None)

    def step(self, params: Params, state: State, token: Array) -> tuple[State, Array]:
        """``seqjax.decoding``'s step function: the previous token ``[n]`` -> ``(state, logits [n, v])``."""
        state, y = self.cell.step(params["cell"], state, params["embed"][token])
        return state, y @ params["out"]["w"] + params["out"]["b"]

    def generate(self, params: Params, prompt: Array, lengths: Array | None = None, *, max_length: int, method: str | None = None,
                 **options) -> decoding.Decoded:
        """``max_length`` tokens after ``prompt [b, t]`` (``lengths [b]``: right-padded prompts of
        different lengths) by ``method`` "greedy" (the default), "sample" or "beam" (``seqjax.decoding.generate``)."""
        method = decoding.generator.default_method(method, options, "RecurrentLM")
        inputs = (prompt,) if lengths is None else (prompt, lengths)
        return decoding.generate(self, params, *inputs, max_length=max_length, method=method, **options)

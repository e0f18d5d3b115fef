"""First contact: an eager call of a model's public method, the first time and every time after.

A researcher debugging or decoding in a plain Python loop calls ``model.logits(params, ids)``
eagerly. Public model methods are ``@compiled`` (``seqjax.core.compiled``): the first call with a
shape compiles a program, later calls with that shape run it. Columns, per model and method:

- first call: the call that compiles (the model's first, at one shape);
- repeated: the median of the calls after it (same shape, new values);
- new shape: the first call at a second shape (a second program);
- op by op, first and repeated: the same method as written, run eagerly one operation at a time
  (what an eager call cost before the methods were compiled): its first call (after the compiled
  one, so the operations' kernels it shares with other shapes are not all new), then the median
  of a few calls;
- op by op / repeated: how many times faster the compiled call is.

Every model runs a small config on a batch of 8; the values are checked to be the same both ways
(``max |diff|``). ``jax.clear_caches()`` runs before each model, so "first call" includes
tracing and compiling everything it needs.

    python -m benchmarks.first_call
    python -m benchmarks.first_call --models=TransformerLM.logits,Classifier.loss
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import seqjax
from benchmarks.common import finish, format_table, run_main
from seqjax.core import compiled
from seqjax.models import Captioner, Classifier, RecurrentLM, Seq2Seq, Transformer, TransformerLM
from seqjax.sequences.conv import TextCNN


@dataclasses.dataclass(frozen=True)
class Config:
    batch: int = 8
    length: int = 32      # tokens per sequence (the second shape: length // 2)
    repeats: int = 20     # calls timed after the first
    eager_repeats: int = 3
    models: tuple[str, ...] = ()  # the rows to run, by name (empty: all)
    out: str = "benchmarks/results/first_call.json"


def cases(config: Config) -> dict:
    """``name -> (model, make_args(length) -> (method name, args))``: a small model of each kind."""
    b, v = config.batch, 1000
    rng = np.random.default_rng(0)

    def ids(t, vocab=v):
        return jnp.asarray(rng.integers(4, vocab, (b, t)), jnp.int32)

    def lengths(t):
        return jnp.asarray(rng.integers(1, t + 1, b), jnp.int32)

    def pair(t):
        return (ids(t), lengths(t), ids(t), lengths(t))

    return {
        "TransformerLM.logits": (TransformerLM(v, d_model=128, num_heads=4, num_layers=2, context=64), lambda t: ("logits", (ids(t),))),
        "RecurrentLM.logits": (RecurrentLM(v, seqjax.LSTM(128, 256)), lambda t: ("logits", (ids(t),))),
        "Seq2Seq.logits": (Seq2Seq.recurrent(v, v, embed_size=128, hidden_size=128), lambda t: ("logits", pair(t))),
        "Transformer.logits": (Transformer(v, v, d_model=128, num_heads=4, encoder_layers=2, decoder_layers=2, d_ff=256),
                               lambda t: ("logits", pair(t))),
        "Classifier.logits (bi-LSTM)": (Classifier(v, 2, seqjax.Bidirectional(seqjax.LSTM(128, 128)), pooling="max"),
                                        lambda t: ("logits", (ids(t), lengths(t)))),
        "Classifier.logits (text CNN)": (Classifier(v, 2, TextCNN(128, (3, 4, 5), 100)), lambda t: ("logits", (ids(t), lengths(t)))),
        "Captioner.logits": (Captioner.recurrent(v, image_size=32, channels=(3, 16, 32), embed_size=64, hidden_size=128),
                             lambda t: ("logits", (jnp.asarray(rng.random((b, 32, 32, 3)), jnp.float32), ids(t), lengths(t)))),
        "Classifier.loss": (Classifier(v, 2, seqjax.GRU(128, 128)),
                            lambda t: ("loss", ({"ids": ids(t), "lengths": lengths(t), "labels": jnp.asarray(rng.integers(0, 2, b))},))),
    }


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def measure(model, make_args, params, config: Config) -> dict:
    name, args = make_args(config.length)
    method = getattr(model, name)
    first, out = timed(lambda: method(params, *args))
    repeated = [timed(lambda: method(params, *make_args(config.length)[1]))[0] for _ in range(config.repeats)]
    new_shape, _ = timed(lambda: method(params, *make_args(config.length // 2)[1]))
    as_written = getattr(type(model), name).__wrapped__  # the method without @compiled: one operation at a time
    eager_first, _ = timed(lambda: as_written(model, params, *args))  # also a warm-up: JAX caches each operation's kernel
    eager = [timed(lambda: as_written(model, params, *args)) for _ in range(config.eager_repeats)]
    diff = max(float(jnp.max(jnp.abs(jnp.asarray(a, jnp.float32) - jnp.asarray(e, jnp.float32))))
               for a, e in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(eager[-1][1])))
    eager_s = statistics.median(t for t, _ in eager)
    repeated_s = statistics.median(repeated)
    return {"first_s": first, "repeated_ms": 1e3 * repeated_s, "new_shape_s": new_shape, "op_by_op_first_s": eager_first, "op_by_op_ms": 1e3 * eager_s,
            "speedup": eager_s / repeated_s, "max_abs_diff": diff}


def main(config: Config) -> list[dict]:
    rows = []
    with jax.numpy_dtype_promotion("standard"):
        chosen = cases(config)
        unknown = sorted(set(config.models) - set(chosen))
        if unknown:
            raise SystemExit(f"error: --models names no row {unknown}; the rows are {sorted(chosen)}")
        for name, (model, make_args) in chosen.items():
            if config.models and name not in config.models:
                continue
            jax.clear_caches()
            compiled.clear()
            params = model.init(jax.random.key(0))
            row = {"model": name, **measure(model, make_args, params, config)}
            rows.append(row)
            print(row, flush=True)
    return finish(config, rows, table(rows))


def table(rows: list[dict]) -> str:
    return format_table(rows, [("model", "model and method", ""), ("first_s", "first call s", ".2f"),
                               ("repeated_ms", "repeated ms", ".1f"), ("new_shape_s", "new shape s", ".2f"),
                               ("op_by_op_first_s", "op by op, first s", ".2f"), ("op_by_op_ms", "op by op ms", ".0f"), ("speedup", "op by op / repeated", ".0f"),
                               ("max_abs_diff", "max abs diff", ".1e")])


if __name__ == "__main__":
    run_main(main, Config(), __doc__)

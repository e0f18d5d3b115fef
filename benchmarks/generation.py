"""Sampling characters one at a time from a char-LSTM: one compiled loop against a Python loop.

    python -m benchmarks.generation                    # 2,000 characters, hidden 512
    python -m benchmarks.generation --chars=500 --hidden=256

Both contenders run the same model (one-hot input, LSTM, linear readout, sampling at
temperature 1 with an explicit key per step) and produce the same characters. The
compiled loop is one ``lax.scan`` over the steps inside ``jit``; the Python loop calls a
jitted single step once per character, as an interactive sampler would. A third
row runs the Python loop without ``jit`` (op by op), the slowest common mistake.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import seqjax
from benchmarks.common import format_table, median_seconds, write_json
from seqjax.config import parse_config


@dataclasses.dataclass(frozen=True)
class Config:
    chars: int = 2000
    vocab: int = 65           # tiny Shakespeare's character set
    hidden: int = 512
    reps: int = 5
    budget_s: float = 60.0
    out: str = "benchmarks/results/generation.json"


def make_model(config: Config):
    cell = seqjax.LSTM(config.vocab, config.hidden)
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"cell": cell.init(k1), "w": jax.random.normal(k2, (config.hidden, config.vocab)) / np.sqrt(config.hidden)}

    def sample_step(params, state, token, key):
        state, h = cell.step(params["cell"], state, jax.nn.one_hot(token, config.vocab))
        token = jax.random.categorical(key, h @ params["w"])
        return state, token

    return cell, params, sample_step


def main(config: Config) -> list[dict]:
    cell, params, sample_step = make_model(config)
    keys = jax.random.split(jax.random.key(1), config.chars)
    state0, token0 = cell.initial_state(1), jnp.zeros((1,), jnp.int32)

    @jax.jit
    def compiled(params, keys):
        def body(carry, key):
            state, token = sample_step(params, *carry, key)
            return (state, token), token

        return jax.lax.scan(body, (state0, token0), keys)[1][:, 0]

    step = jax.jit(sample_step)

    def python_loop(step_fn):
        def run():
            state, token, out = state0, token0, []
            for key in keys:
                state, token = step_fn(params, state, token, key)
                out.append(token)
            return jnp.concatenate(out)
        return run

    same = bool(jnp.all(compiled(params, keys) == python_loop(step)()))
    rows = []
    for name, run, reps in (("compiled lax.scan", lambda: compiled(params, keys), config.reps),
                            ("Python loop, jitted step", python_loop(step), config.reps),
                            ("Python loop, no jit", python_loop(sample_step), 2)):
        seconds, n = median_seconds(run, reps=reps, warmup=1, budget_s=config.budget_s)
        rows.append({"contender": name, "ms": 1e3 * seconds, "chars_per_s": config.chars / seconds, "reps": n})
    for row in rows:
        row["slowdown_vs_compiled"] = row["ms"] / rows[0]["ms"]
        print(row, flush=True)
    print(f"\ncompiled and Python loop sample the same {config.chars} characters: {same}\n")
    print(table(rows))
    write_json(config.out, {"config": dataclasses.asdict(config), "rows": rows, "same_characters": same})
    return rows


def table(rows: list[dict]) -> str:
    return format_table(rows, [("contender", "contender", ""), ("ms", "ms for all chars", ".1f"),
                               ("chars_per_s", "chars/s", ",.0f"), ("slowdown_vs_compiled", "time / compiled", ".1f")])


if __name__ == "__main__":
    main(parse_config(Config(), description=__doc__))

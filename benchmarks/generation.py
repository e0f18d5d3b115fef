"""Sampling characters one at a time from a char-LSTM: one compiled loop against a Python loop.

    python -m benchmarks.generation                    # 2,000 characters, hidden 512
    python -m benchmarks.generation --chars=500 --hidden=256

Both contenders run the same model (one-hot input, LSTM, linear readout, sampling at
temperature 1 with an explicit key per step) and produce the same characters. The
compiled loop is one ``lax.scan`` over the steps inside ``jit``; the Python loop calls a
jitted single step once per character, as an interactive sampler would. A third
row runs the Python loop without ``jit`` (op by op), the slowest common mistake.

The input is one-hot, so the step looks up the row ``W_x[token]`` instead of multiplying
``one_hot(token) @ W_x`` (same numbers, checked at start-up; measured about 10% faster).

Two more rows say how large the ratio can get on this machine. "floor" is a compiled
loop that does only the recurrent matvec ``h @ W_h``, the one part of a step that cannot
be skipped (``W_h`` is 4 MiB at hidden 512 and is read once per character). No compiled
sampler is faster than the floor, so ``Python loop / floor`` bounds the speedup of any
compiled loop over the Python loop. "dispatch" is a Python loop of a jitted step that
only adds 1 to the same state and token: the per-call cost of leaving Python.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import seqjax
from benchmarks.common import Precision, finish, format_table, interleaved_medians, run_main, set_matmul_precision

# contender names (rows of the results; benchmarks.targets reads them)
COMPILED = "compiled lax.scan"
PYTHON_LOOP = "Python loop, jitted step"
FLOOR = "bound: floor (compiled h @ W_h only)"


@dataclasses.dataclass(frozen=True)
class Config:
    chars: int = 2000
    vocab: int = 65           # tiny Shakespeare's character set
    hidden: int = 512
    reps: int = 5
    budget_s: float = 60.0
    out: str = "benchmarks/results/generation.json"
    matmul_precision: Precision = "float32"  # or "tensorfloat32" / "default" (GPUs only; benchmarks.common)


def make_model(config: Config):
    cell = seqjax.LSTM(config.vocab, config.hidden)
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"cell": cell.init(k1), "w": jax.random.normal(k2, (config.hidden, config.vocab)) / np.sqrt(config.hidden)}

    def sample_step(params, state, token, key):
        p = params["cell"]
        state, h = cell.recur(p, state, p["wx"][token] + p["b"])  # = cell.step(p, state, one_hot(token))
        token = jax.random.categorical(key, h @ params["w"])
        return state, token

    x = jax.nn.one_hot(jnp.array([3]), config.vocab)  # the row lookup is the one-hot step
    p = params["cell"]
    one_hot = cell.step(p, cell.initial_state(1), x)
    lookup = cell.recur(p, cell.initial_state(1), p["wx"][jnp.array([3])] + p["b"])
    if not all(np.allclose(a, b, atol=1e-5) for a, b in zip(jax.tree.leaves(one_hot), jax.tree.leaves(lookup))):
        raise AssertionError("generation: the row lookup W_x[token] does not reproduce cell.step on one_hot(token)")
    return cell, params, sample_step


def bounds(config: Config, params, state0, token0, keys):
    """The compiled matvec-only loop (floor) and the Python loop of a trivial jitted step (dispatch)."""
    wh = params["cell"]["wh"]

    @jax.jit
    def floor(wh, h):
        # every column of W_h is used: XLA cannot slice the matmul down
        return jax.lax.scan(lambda h, _: ((h @ wh).reshape(1, 4, -1).sum(1), None), h, None, length=config.chars)[0]

    trivial = jax.jit(lambda params, state, token, key: (jax.tree.map(lambda s: s + 1, state), token + 1))

    def dispatch():
        state, token = state0, token0
        for key in keys:
            state, token = trivial(params, state, token, key)
        return token

    return (lambda: floor(wh, state0.h)), dispatch


def main(config: Config) -> list[dict]:
    set_matmul_precision(config.matmul_precision)
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
    floor, dispatch = bounds(config, params, state0, token0, keys)
    runs = {COMPILED: lambda: compiled(params, keys),
            PYTHON_LOOP: python_loop(step),
            "Python loop, no jit": python_loop(sample_step),
            FLOOR: floor,
            "bound: dispatch (Python loop, trivial jitted step)": dispatch}
    timings = interleaved_medians(runs, reps=config.reps, warmup=1, budget_s=config.budget_s)
    rows = [{"contender": name, "ms": 1e3 * seconds, "chars_per_s": config.chars / seconds, "reps": n}
            for name, (seconds, n) in timings.items()]
    for row in rows:
        row["slowdown_vs_compiled"] = row["ms"] / rows[0]["ms"]
        print(row, flush=True)
    ms = {row["contender"]: row["ms"] for row in rows}
    best = ms[PYTHON_LOOP] / ms[FLOOR]
    print(f"\ncompiled and Python loop sample the same {config.chars} characters: {same}")
    print(f"largest possible speedup of a compiled loop over the Python loop of jitted steps: Python loop / floor = {best:.1f}")
    return finish(config, rows, table(rows), same_characters=same, best_possible_speedup=best)


def table(rows: list[dict]) -> str:
    return format_table(rows, [("contender", "contender", ""), ("ms", "ms for all chars", ".1f"),
                               ("chars_per_s", "chars/s", ",.0f"), ("slowdown_vs_compiled", "time / compiled", ".1f")])


if __name__ == "__main__":
    run_main(main, Config(), __doc__)

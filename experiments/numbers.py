"""Number phrases ↔ digits, in English and French: the lectures' numeric-phrase lab as sequence to sequence.

One attention model learns four tasks at once, on numbers 0 to 999,999 generated in code
(``experiments.number_phrases``):

    words → digits   "deux cent quarante" → 240, "one hundred and twenty-three thousand, four hundred and fifty-six" → 123456
                     (English or French, any spelling people write; no flag says which language)
    digits → words   <en> 240 → "two hundred forty",  <fr> 240 → "deux cent quarante"

A fixed share of the numbers (``--held_out``, drawn per number of digits) never appears in
training in any task; exact match is measured on them, with greedy decoding and beam search.

    python -m experiments.numbers                                     # ~3 minutes on 2 CPU cores
    python -m experiments.numbers --steps=6000                        # longer
    python -m experiments.numbers --translate="quatre cent douze"     # with the trained run in --out_dir
    python -m experiments.numbers --translate="412" --language=fr     # digits → French words
    python -m experiments.numbers --translate_file=phrases.txt        # one phrase a line in, one answer a line out
    python -m seqjax.train.launch --processes=2 -- python -m experiments.numbers --distributed=true   # 2 processes

It writes ``--out_dir``: checkpoints (kill it and rerun: it resumes), ``model/`` (parameters and
vocabularies), ``results.json``, ``attention/*.png`` (one heatmap per task) and ``curves.png``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Literal

import jax
import numpy as np

import seqjax
from experiments import number_phrases as numbers
from experiments.harness import Devices
from seqjax import data, decoding, train
from seqjax.core import plots
from seqjax.data import pairs
from seqjax.models import Seq2Seq

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    cell: Literal["gru", "lstm", "elman"] = "gru"
    embed: int = 64
    hidden: int = 128
    attention: Literal["additive", "dot", "general", "scaled_dot", "none"] = "additive"
    batch: int = 128
    steps: int = 1500
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    clip_norm: float = 1.0
    held_out: float = 0.02          # share of the numbers of each length (>= 2 digits) never trained on
    eval_per_length: int = 200      # held-out numbers of each length per task in the final evaluation
    beam_width: int = 5
    log_every: int = 100
    eval_every: int = 500
    save_every: int = 500
    translate: str = ""             # answer this phrase (or number) with the trained run in out_dir, then stop
    translate_file: str = ""        # answer every line of this file, one line out per line in
    language: Literal["en", "fr"] = "en"  # the language of digits -> words answers
    data_parallel: bool = False     # shard the batch over this process's devices
    distributed: bool = False       # one of several processes (seqjax.train.launch, SLURM, a TPU pod): see experiments/harness.py
    seed: int = 0
    out_dir: str = "runs/numbers"


TASKS = (("words", "en"), ("words", "fr"), ("digits", "en"), ("digits", "fr"))
BUCKETS = (12, 24)
GENERATE = {"method": "beam", "max_length": BUCKETS[-1], "batch_size": 256, "buckets": BUCKETS}  # how answers are decoded

# -----------------------------------------------------------------------------
# data: sources and targets of the four tasks, vocabularies, held-out numbers


# How each side's text is split and written back, as data saved with the model (seqjax.load reads
# raw text with them). Sources: a language tag, digits one by one, words lowercased (hyphens and
# commas split them). Targets: digits joined ("240"), words with their hyphens ("vingt-deux").
SOURCE = data.Tokenizer(r"<\w+>|\d|[^\W\d_]+", lower=True)
TARGET = data.Tokenizer(r"\d|-|[^\s\d-]+", rules=((r"(?<=\d) (?=\d)", ""), (r" - ", "-")))


def words_tokens(text: str) -> list[str]:
    """The target side of digits -> words: words and hyphens ("vingt - deux"), so hyphens are written back."""
    return TARGET(text)


def render(tokens: list[str]) -> str:
    """Digits joined ("240"), words with their hyphens ("deux cent quarante", "vingt-deux")."""
    return TARGET.render(tokens)


def example(n: int, task: tuple[str, str], rng: np.random.Generator | None) -> tuple[list[str], list[str]]:
    """(source tokens, target tokens); words are a random spelling with ``rng``, else the canonical one."""
    kind, language = task
    if kind == "words":
        text = numbers.spelling(n, language, rng) if rng is not None else numbers.canonical(n, language)
        return numbers.phrase_tokens(text), list(str(n))
    return [f"<{language}>"] + list(str(n)), words_tokens(numbers.canonical(n, language))


def vocabularies() -> tuple[data.Vocab, data.Vocab]:
    """Every word of every spelling: numbers 0..999 and the thousands cover them all."""
    covering = list(range(1000)) + [1000, 2000, 21000, 80000, 200000]
    source, target = [["<en>", "<fr>"] + list("0123456789")], [list("0123456789")]
    for n in covering:
        for language in ("en", "fr"):
            source += [numbers.phrase_tokens(s) for s in numbers.spellings(n, language)]
            target.append(words_tokens(numbers.canonical(n, language)))
    return data.Vocab.build(source, level=SOURCE), data.Vocab.build(target, level=TARGET)


def held_out_numbers(config: Config) -> np.ndarray:
    """``held_out`` of the numbers with 2, 3, ..., 6 digits (at least one of each length), sorted."""
    rng = np.random.default_rng([config.seed, 7])
    chosen = []
    for digits in range(2, 7):
        low, high = 10 ** (digits - 1), 10 ** digits
        chosen.append(rng.choice(np.arange(low, high), max(1, round(config.held_out * (high - low))), replace=False))
    return np.sort(np.concatenate(chosen))


def make_batches(config: Config, src_vocab, tgt_vocab, held: np.ndarray, shard=None) -> data.Generated:
    """Batch ``i`` is a function of ``(seed, i)`` only: endless and resumable (``shard``: this process's rows)."""

    def make(i: int) -> dict:
        rng = np.random.default_rng([config.seed, 1, i])
        values = numbers.sample_numbers(rng, config.batch)
        while np.isin(values, held).any():  # held-out numbers are never trained on, in any task
            again = np.isin(values, held)
            values[again] = numbers.sample_numbers(rng, int(again.sum()))
        tasks = rng.integers(len(TASKS), size=config.batch)
        examples = []
        for n, t in zip(values, tasks):
            source, target = example(int(n), TASKS[t], rng)
            examples.append((src_vocab.encode(source), tgt_vocab.encode(target)))
        return pairs.collate_pairs(examples, BUCKETS)

    return data.Generated(make, shard=shard)


# -----------------------------------------------------------------------------
# model and answers


def build_model(config: Config, src_vocab, tgt_vocab) -> Seq2Seq:
    return Seq2Seq.recurrent(len(src_vocab), len(tgt_vocab), cell=config.cell, embed_size=config.embed, hidden_size=config.hidden,
                             attention=config.attention)


def answer(model, params, sources: list[list[str]], src_vocab, tgt_vocab, method: str, beam_width: int, attention=False):
    """Detokenised answers (and attention weights) for token lists, batched by 256."""
    return decoding.generate_all(model, params, [src_vocab.encode(s) for s in sources], **GENERATE | {"method": method},
                                 beam_width=beam_width, attention=attention,
                                 render=tgt_vocab.decode)


def exact_match(model, params, config: Config, src_vocab, tgt_vocab, evaluation: dict, method: str) -> dict[str, float]:
    """Exact match per task over the held-out numbers, words drawn in a fixed random spelling."""
    results = {}
    for task, values in evaluation.items():
        rng = np.random.default_rng([config.seed, 3, TASKS.index(task)])
        cases = [example(int(n), task, rng) for n in values]
        got, _ = answer(model, params, [s for s, _ in cases], src_vocab, tgt_vocab, method, config.beam_width)
        want = [render(t) for _, t in cases]
        results["->".join(("words", "digits") if task[0] == "words" else ("digits", "words")) + f" {task[1]}"] = float(
            np.mean([g == w for g, w in zip(got, want)]))
    return results


def load_trained(out_dir: str):
    """The config, model, parameters and vocabularies of a trained run (``seqjax.train.load_run``)."""
    config, model, params, (src_vocab, tgt_vocab), where = train.load_run(out_dir, Config(), build_model, ("src_vocab", "tgt_vocab"))
    print(f"using {where}")
    return config, model, params, src_vocab, tgt_vocab


def translate_lines(config: Config, lines: list[str]) -> list[str]:
    """Digits -> words in ``config.language``; anything else is read as words -> digits."""
    trained, model, params, src_vocab, tgt_vocab = load_trained(config.out_dir)
    sources = []
    for number, line in enumerate(lines, 1):
        digits = numbers.digit_tokens(line)
        tokens = [f"<{config.language}>"] + digits if digits else SOURCE(line)
        if not tokens:
            raise SystemExit(f"error: line {number} is empty: nothing to translate")
        if digits and len(digits) > 6:
            raise SystemExit(f"error: line {number}: {line.strip()!r} is not below 1,000,000, the range the model learnt")
        unknown = [t for t in tokens if t not in src_vocab]
        if unknown:
            print(f"line {number}: {len(unknown)} unknown word(s) read as <UNK>: {' '.join(unknown)}")
        sources.append(tokens)
    texts, _ = answer(model, params, sources, src_vocab, tgt_vocab, "beam", trained.beam_width)
    return texts


# -----------------------------------------------------------------------------
# the experiment


def main(config: Config) -> dict:
    if config.translate or config.translate_file:
        lines = [config.translate] if config.translate else pathlib.Path(config.translate_file).read_text(encoding="utf-8").splitlines()
        texts = translate_lines(config, lines)
        print("\n".join(texts))
        return {"translations": texts}
    devices = Devices.start(config)
    print(config)
    src_vocab, tgt_vocab = vocabularies()
    held = held_out_numbers(config)
    by_length = {d: held[(held >= 10 ** (d - 1)) & (held < 10 ** d)] for d in range(2, 7)}
    rng = np.random.default_rng([config.seed, 4])
    picked = np.sort(np.concatenate([rng.choice(v, min(len(v), config.eval_per_length), replace=False) for v in by_length.values()]))
    evaluation = {task: picked for task in TASKS}
    print(f"vocabularies: {len(src_vocab)} source, {len(tgt_vocab)} target tokens; {len(held):,} numbers held out; "
          f"{len(picked)} of them per task in the evaluation")

    run = train.Run(config.out_dir, config, checkpoint_every=config.save_every, keep=2)
    run.check_vocab(src_vocab, "src_vocab.json")
    run.check_vocab(tgt_vocab, "tgt_vocab.json")
    model = build_model(config, src_vocab, tgt_vocab)
    key = jax.random.key(config.seed)
    optimizer = train.optimizer(config.learning_rate, clip_norm=config.clip_norm, warmup_steps=config.warmup_steps,
                                decay_steps=config.steps)
    state = devices.put_state(train.TrainState.create(model.init(jax.random.fold_in(key, 0)), optimizer, jax.random.fold_in(key, 1)))
    train_step = train.make_train_step(model.loss, optimizer)
    quick = {task: picked[:: max(1, len(picked) // 100)] for task in TASKS}  # ~100 per task while training

    started = time.perf_counter()
    state = train.fit(state, train_step, make_batches(config, src_vocab, tgt_vocab, held, devices.shard), steps=config.steps,
                      run=run, evaluate=lambda s: exact_match(model, devices.local(s.params), config, src_vocab, tgt_vocab, quick, "greedy"),
                      eval_every=config.eval_every, log_every=config.log_every, place_batch=devices.place_batch,
                      meta=lambda: {"config": dataclasses.asdict(config)})
    seconds = time.perf_counter() - started
    params = devices.local(state.params)
    results = {"train_seconds_this_process": seconds, "steps": int(state.step), "held_out_numbers": len(held)}
    for method in ("greedy", "beam"):
        results[method] = exact_match(model, params, config, src_vocab, tgt_vocab, evaluation, method)
    if not devices.primary:  # process 0 writes the run's files
        run.close()
        return results
    seqjax.save_model(run.dir / "model", model, params, vocabularies={"src": src_vocab, "tgt": tgt_vocab},  # seqjax.load(run_dir)
                      meta={"config": dataclasses.asdict(config), "generate": GENERATE | {"beam_width": config.beam_width}})
    print(f"\nheld-out exact match over {len(picked)} numbers per task (2 to 6 digits), training {seconds:.0f} s in this process:")
    print("| task | greedy | beam |\n|---|---|---|")
    for name in results["greedy"]:
        print(f"| {name} | {100 * results['greedy'][name]:.2f}% | {100 * results['beam'][name]:.2f}% |")
    for task in TASKS:  # one attention heatmap per task
        source, _ = example(int(picked[-1]), task, np.random.default_rng(0))
        (tokens,), (weights,) = decoding.generate_all(model, params, [src_vocab.encode(source)], batch_size=1, buckets=BUCKETS,
                                                      max_length=BUCKETS[-1], attention=True,
                                                      render=lambda ids: [tgt_vocab.tokens[i] for i in ids])
        shown, text = tokens + ["<EOS>"] * (len(tokens) < BUCKETS[-1]), render(tokens)  # no <EOS> when it never stopped
        plots.attention_heatmap(weights[: len(shown)], source, shown, run.dir / "attention" / f"{task[0]}_{task[1]}.png", title=f"{' '.join(source)} → {text}")
    (run.dir / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {run.dir / 'results.json'}, {run.dir / 'attention'}/*.png, {run.plot()}")
    run.close()
    return results


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)

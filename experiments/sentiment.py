"""Sentence polarity on MR (Pang & Lee 2005) with Kim's (2014) protocol: many to one, RNNs and CNNs side by side.

10-fold cross-validation (stratified; a tenth of each training split held out as the
development set that picks the epoch), mean and standard deviation of the test accuracy per
model. Models: Elman, GRU, LSTM, bidirectional LSTM (``--pooling``: by default the max over
time of the outputs of both directions; "final" takes their final states),
CNN-rand (Kim's CNN with random word vectors), CNN+GRU (convolution features read by a GRU),
and with ``--vectors`` (a GloVe- or word2vec-format text file) CNN-static, CNN-non-static and
CNN-multichannel.

    python -m experiments.sentiment                                        # smoke: fold 1 of 10, 4 epochs
    python -m experiments.sentiment --run_folds=10                         # the full protocol (README: results and time)
    python -m experiments.sentiment --models=cnn_rand,cnn_static --vectors=glove.6B.300d.txt --embed=300

Anchors (Kim 2014, Table 2, MR): CNN-rand 76.1, CNN-static 81.0, CNN-non-static 81.5,
CNN-multichannel 81.1. Results are kept per (model, fold) in ``--out_dir``/results.json as
they finish, so an interrupted run continues where it stopped; the table and a bar plot with
error bars are written at the end.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Literal

import jax
import numpy as np
import optax

import seqjax
from experiments.harness import Devices
from seqjax import data, train
from seqjax.core import plots
from seqjax.data import labelled
from seqjax.data.tokenizer import SPACE_PATTERN
from seqjax.embeddings import Vectors
from seqjax.models import Classifier
from seqjax.sequences.conv import ConvRNN, TextCNN, max_norm
from seqjax.train.config import check_config

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    data: str = ""                  # a folder holding mr/rt-polarity.{pos,neg} (or those two files); "" = search
    models: tuple[str, ...] = ("elman", "gru", "lstm", "bilstm", "cnn_rand", "cnn_gru")
    vectors: str = ""               # GloVe/word2vec text file: adds cnn_static, cnn_non_static, cnn_multichannel
    folds: int = 10
    run_folds: int = 1              # how many of the folds to run (10: the full protocol)
    epochs: int = 4
    batch: int = 50
    embed: int = 300
    hidden: int = 150               # recurrent state size (per direction for bilstm)
    pooling: Literal["final", "last", "mean", "max", "attention"] = "max"  # how the recurrent models read their outputs
    feature_maps: int = 100
    region_sizes: tuple[int, ...] = (3, 4, 5)
    dropout: float = 0.5
    learning_rate: float = 1e-3
    max_norm: float = 3.0           # Kim's constraint on the output weights (0: off)
    dev_fraction: float = 0.1
    limit: int = 0                  # use only this many examples (0: all 10,662), for quick runs
    data_parallel: bool = False     # shard the batch over this process's devices
    distributed: bool = False       # one of several processes (seqjax.train.launch, SLURM, a TPU pod): see experiments/harness.py
    seed: int = 0
    out_dir: str = "runs/sentiment"


BUCKETS = (16, 32, 64)
TOKENIZER = data.Tokenizer(SPACE_PATTERN)  # MR is tokenised and lowercased already: its words are what lies between spaces
CLASSES = ("negative", "positive")      # MR's labels 0 and 1
PRETRAINED = ("cnn_static", "cnn_non_static", "cnn_multichannel")

# -----------------------------------------------------------------------------
# models


def build_model(name: str, config: Config, vocab_size: int) -> Classifier:
    e, h = config.embed, config.hidden
    cnn = TextCNN(e, config.region_sizes, config.feature_maps)
    encoders = {"elman": seqjax.Elman(e, h), "gru": seqjax.GRU(e, h), "lstm": seqjax.LSTM(e, h),
                "bilstm": seqjax.Bidirectional(seqjax.LSTM(e, h)),
                "cnn_gru": ConvRNN(e, seqjax.GRU(config.feature_maps, h), feature_maps=config.feature_maps)}
    if name in encoders:
        return Classifier(vocab_size, 2, encoders[name], pooling=config.pooling, dropout=config.dropout)
    kinds = {"cnn_rand": "rand", "cnn_static": "static", "cnn_non_static": "non-static", "cnn_multichannel": "multichannel"}
    if name not in kinds:
        raise SystemExit(f"error: unknown model {name!r}; choose from {sorted(encoders) + sorted(kinds)}")
    return Classifier(vocab_size, 2, cnn, embeddings=kinds[name], dropout=config.dropout)


def make_optimizer(config: Config) -> optax.GradientTransformation:
    base = train.optimizer(config.learning_rate, clip_norm=None)
    if not config.max_norm:
        return base
    return optax.chain(base, max_norm(config.max_norm, where=lambda path: path == "head/w"))


# -----------------------------------------------------------------------------
# one (model, fold): train with the dev split choosing the epoch, then test


def run_fold(model, params0, config, steps, train_ex, dev_ex, test_ex, fold: int, devices: Devices) -> dict:
    optimizer = make_optimizer(config)
    per_epoch = max(1, len(train_ex) // config.batch)
    batches = labelled.labelled_batches(train_ex, config.batch, buckets=BUCKETS, seed=config.seed + fold, shard=devices.shard)
    state = devices.put_state(train.TrainState.create(params0, optimizer, jax.random.key(config.seed * 1000 + fold)))
    best = train.EarlyStopping("dev_accuracy", mode="max")  # the dev split chooses the epoch; patience None: all epochs run
    started = time.perf_counter()
    losses = []
    train.fit(state, steps["train"], batches, steps=config.epochs * per_epoch, eval_every=per_epoch, early_stopping=best,
              evaluate=lambda s: {"dev_accuracy": accuracy(steps["eval"], devices.local(s.params), dev_ex)},
              log_every=max(1, per_epoch // 2), on_log=lambda step, metrics: losses.append(metrics["loss"]),
              place_batch=devices.place_batch)
    test = accuracy(steps["eval"], devices.local(best.best_state.params), test_ex)
    return {"test_accuracy": test, "dev_accuracy": best.best, "best_epoch": best.best_step // per_epoch,
            "train_losses": losses, "seconds": time.perf_counter() - started}, devices.local(best.best_state.params)


def accuracy(eval_step, params, examples) -> float:
    chunks = [labelled.collate_labelled(examples[i: i + 500], BUCKETS) for i in range(0, len(examples), 500)]
    return train.evaluate(eval_step, params, chunks)["accuracy"]


# -----------------------------------------------------------------------------
# the experiment


def main(config: Config) -> dict:
    check_config(config)
    devices = Devices.start(config)
    print(config)
    if not 1 <= config.run_folds <= config.folds:
        raise SystemExit(f"error: --run_folds must lie in [1, --folds={config.folds}], got {config.run_folds}")
    known = ("elman", "gru", "lstm", "bilstm", "cnn_gru", "cnn_rand") + PRETRAINED
    if not config.models or any(m not in known for m in config.models):
        raise SystemExit(f"error: --models must name some of {known}, got {config.models!r}")
    if any(m in PRETRAINED for m in config.models) and not config.vectors:
        raise SystemExit("error: the models cnn_static, cnn_non_static and cnn_multichannel need --vectors (a GloVe-format file)")
    if not 0 < config.dev_fraction < 1:
        raise SystemExit(f"error: --dev_fraction must lie in (0, 1), got {config.dev_fraction}")
    pairs = data.datasets.mr(config.data or None)
    if config.limit:
        pairs = [pairs[i] for i in np.random.default_rng(config.seed).permutation(len(pairs))[: config.limit]]
    texts, labels = [t for t, _ in pairs], np.array([y for _, y in pairs])
    vocab = data.Vocab.build([t.split() for t in texts], level=TOKENIZER)  # every word of the data, as Kim's code
    examples = labelled.encode_labelled(texts, labels, vocab, str.split, 2, source="MR")
    folds = labelled.stratified_folds(labels, config.folds, config.seed)
    names = list(config.models)
    pretrained = None
    if config.vectors:
        words, vectors = data.datasets.glove(config.vectors)
        if vectors.shape[1] != config.embed:
            raise SystemExit(f"error: {config.vectors} has {vectors.shape[1]}-dimensional vectors but --embed={config.embed}; "
                             f"set --embed={vectors.shape[1]}")
        pretrained, found = Vectors(words, vectors).embedding_matrix(vocab.tokens, seed=config.seed, scale=0.25)  # Kim's U(-0.25, 0.25)
        print(f"--vectors: {found:,} of the {len(vocab):,} vocabulary words have a vector ({100 * found / len(vocab):.1f}%)")
        names += [n for n in PRETRAINED if n not in names]
    print(f"{len(examples):,} sentences, vocabulary {len(vocab):,}; {config.folds} folds, running {config.run_folds}")

    out = pathlib.Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    # what a fold's result depends on: running more folds or models later adds to the same file
    setting = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("run_folds", "models", "out_dir")}
    if json.loads(json.dumps(results.get("setting", setting))) != json.loads(json.dumps(setting)):
        raise SystemExit(f"error: {results_path} holds results of another configuration; use another --out_dir")
    results["setting"] = setting
    for name in names:
        model = build_model(name, config, len(vocab))
        steps = {"train": train.make_train_step(model.loss, make_optimizer(config)), "eval": train.make_eval_step(model.loss)}
        for fold in range(config.run_folds):
            if str(fold) in results.get(name, {}):
                continue
            rng = np.random.default_rng([config.seed, fold])
            train_idx = np.flatnonzero(folds != fold)
            dev_idx = rng.choice(train_idx, int(config.dev_fraction * len(train_idx)), replace=False)
            train_idx = np.setdiff1d(train_idx, dev_idx)
            params0 = model.init(jax.random.key(config.seed * 100 + fold), pretrained=pretrained)
            result, params = run_fold(model, params0, config, steps, [examples[i] for i in train_idx], [examples[i] for i in dev_idx],
                              [examples[i] for i in np.flatnonzero(folds == fold)], fold, devices)
            results.setdefault(name, {})[str(fold)] = result
            if devices.primary:
                if fold == 0:  # the first fold's model (the epoch the dev split chose): seqjax.load(path).predict(texts)
                    seqjax.save_model(out / "models" / name, model, params, vocabularies={"vocab": vocab},
                                      meta={"config": dataclasses.asdict(config), "fold": 0, "classes": CLASSES,
                                            "predict": {"batch_size": 500, "buckets": BUCKETS}})
                results_path.write_text(json.dumps(results, indent=1))
            print(f"{name} fold {fold + 1}/{config.folds}: test {100 * result['test_accuracy']:.2f}% "
                  f"(dev {100 * result['dev_accuracy']:.2f}% at epoch {result['best_epoch']}), {result['seconds']:.0f} s", flush=True)

    table = summary(results, names)
    print("\n" + markdown(table))
    if not devices.primary:
        return {"table": table, "results": results}
    plot(table, out / "accuracy.png")
    (out / "summary.json").write_text(json.dumps(table, indent=1))
    print(f"wrote {results_path}, {out / 'summary.json'}, {out / 'accuracy.png'}")
    return {"table": table, "results": results}


def summary(results: dict, names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        scores = [100 * r["test_accuracy"] for r in results.get(name, {}).values()]
        if scores:
            rows.append({"model": name, "mean": float(np.mean(scores)), "std": float(np.std(scores)), "folds": len(scores),
                         "seconds_per_fold": float(np.mean([r["seconds"] for r in results[name].values()]))})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | test accuracy (%) | folds | seconds per fold |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['mean']:.2f} ± {r['std']:.2f} | {r['folds']} | {r['seconds_per_fold']:.0f} |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: pathlib.Path) -> None:
    plt = plots.pyplot()

    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(rows), 3.6))
    ax.bar([r["model"] for r in rows], [r["mean"] for r in rows], yerr=[r["std"] for r in rows], capsize=4, color="#4c72b0")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(min([r["mean"] - r["std"] for r in rows] + [50]) - 2, 100)
    ax.set_title(f"MR, {rows[0]['folds'] if rows else 0}-fold cross-validation")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)

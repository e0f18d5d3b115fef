"""Ontology classification of DBpedia abstracts (Zhang et al. 2015), or of any CSV of labelled texts.

Many to one, at two granularities: the title and abstract of an entity, read as words or as
characters, to one of the 14 DBpedia classes (Company, Artist, Village, Film, ...). Models:

    word_cnn     Kim's TextCNN over word embeddings (region sizes 3, 4, 5)
    word_bigru   a bidirectional GRU over word embeddings, max over time
    char_cnn     a TextCNN over character embeddings (region sizes 3, 5, 7)

Zhang et al. (2015) report about 98-99% test accuracy for word- and character-level CNNs on the
full data (560,000 training and 70,000 test rows). The data is not shipped: download
dbpedia_csv.tar.gz and point ``--data`` (or ``$SEQJAX_DATA_DIR``) at a folder holding
``dbpedia/train.csv`` and ``dbpedia/test.csv``. Your own data works the same way:

    python -m experiments.ontology --data=/data                                   # DBpedia, all models
    python -m experiments.ontology --data=/data --limit=50000 --models=word_cnn   # a quicker run
    python -m experiments.ontology --train_file=reviews.csv --columns=label,text --header=True
    python -m experiments.ontology --train_file=a.csv --test_file=b.csv --columns=-,label,text --classes=classes.txt

``--columns`` names each CSV column's role (label, text, or - to skip; several text columns are
joined); ``--classes`` is a file of class names, one per line (labels may then be names or
1-based numbers); without it the classes are the training file's distinct labels. With no test
file, a stratified ``--test_fraction`` of the training rows is held out. Per model,
``--out_dir``/<model>/ gets ``confusion.png``; ``--out_dir``/results.json has accuracy, macro F1
and per-class accuracy.
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
from experiments.harness import Devices
from seqjax import data, train
from seqjax.core import plots
from seqjax.data import labelled
from seqjax.models import Classifier
from seqjax.sequences.conv import TextCNN
from seqjax.train.config import check_config

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    data: str = ""                  # a folder holding dbpedia/{train,test}.csv ("" = $SEQJAX_DATA_DIR, then the cache)
    train_file: str = ""            # instead: your own CSV of labelled texts
    test_file: str = ""             # its test CSV ("" = hold out --test_fraction of train_file)
    columns: tuple[str, ...] = ("label", "text", "text")  # DBpedia: class, title, content
    classes: str = ""               # a file of class names, one per line ("" = DBpedia's 14, or the labels found)
    header: bool = False            # the CSVs start with a header row
    test_fraction: float = 0.1
    models: tuple[Literal["word_cnn", "word_bigru", "char_cnn"], ...] = ("word_cnn", "word_bigru", "char_cnn")
    limit: int = 0                  # use at most this many training rows (0: all), for quick runs
    max_words: int = 100            # texts are cut to this many words ...
    max_chars: int = 400            # ... or characters
    vocab_size: int = 50_000
    embed: int = 128
    char_embed: int = 32
    hidden: int = 128
    feature_maps: int = 128
    epochs: int = 2
    batch: int = 64
    learning_rate: float = 1e-3
    dropout: float = 0.5
    data_parallel: bool = False     # shard the batch over this process's devices
    distributed: bool = False       # one of several processes (seqjax.train.launch, SLURM, a TPU pod): see experiments/harness.py
    seed: int = 0
    out_dir: str = "runs/ontology"


MODELS = ("word_cnn", "word_bigru", "char_cnn")

# -----------------------------------------------------------------------------
# data


def load(config: Config) -> tuple[list, list, list[str]]:
    """``(train rows, test rows, class names)``; rows are ``(text, label)``."""
    names = None
    if config.classes:
        names = [line.strip() for line in pathlib.Path(config.classes).read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(names) < 2:
            raise SystemExit(f"error: --classes={config.classes} names {len(names)} class(es); a classifier needs at least 2")
    if config.train_file:
        train_rows, names = data.datasets.labelled_texts(config.train_file, config.columns, classes=names, header=config.header)
        if config.test_file:
            test_rows, _ = data.datasets.labelled_texts(config.test_file, config.columns, classes=names, header=config.header)
        else:
            folds = labelled.stratified_folds([y for _, y in train_rows], max(2, round(1 / config.test_fraction)), config.seed)
            test_rows = [r for r, f in zip(train_rows, folds) if f == 0]
            train_rows = [r for r, f in zip(train_rows, folds) if f != 0]
    else:
        names = names or data.datasets.dbpedia_classes()
        path = config.data or None
        train_rows, test_rows = ([(f"{title}. {content}", y) for y, title, content in data.datasets.dbpedia(split, path)]
                                 for split in ("train", "test"))
        if len(names) != 14:
            raise SystemExit(f"error: DBpedia has 14 classes, --classes names {len(names)}")
    if config.limit:
        keep = np.random.default_rng(config.seed).permutation(len(train_rows))[: config.limit]
        train_rows = [train_rows[i] for i in np.sort(keep)]
    return train_rows, test_rows, names


def tokenizer(level: str, config: Config) -> data.Tokenizer:
    """Words (lowercased) or characters, one space for every run of whitespace (characters see no
    layout), cut at ``--max_words`` / ``--max_chars``; saved with each model, so that
    ``seqjax.load(out_dir / name).predict(texts)`` reads raw text as the run did."""
    if level == "word":
        return data.Tokenizer.word(squeeze_space=True, max_tokens=config.max_words)
    return data.Tokenizer.char(squeeze_space=True, max_tokens=config.max_chars)


def encode(rows, vocab: data.Vocab, source: str) -> list:
    return labelled.encode_labelled([text for text, _ in rows], [y for _, y in rows], vocab, vocab.tokenizer, source=source)

# -----------------------------------------------------------------------------
# models


def build_model(name: str, config: Config, vocab_size: int, classes: int) -> Classifier:
    if name == "word_cnn":
        return Classifier(vocab_size, classes, TextCNN(config.embed, (3, 4, 5), config.feature_maps), dropout=config.dropout)
    if name == "word_bigru":
        return Classifier(vocab_size, classes, seqjax.Bidirectional(seqjax.GRU(config.embed, config.hidden)), pooling="max",
                          dropout=config.dropout)
    if name == "char_cnn":
        return Classifier(vocab_size, classes, TextCNN(config.char_embed, (3, 5, 7), config.feature_maps), dropout=config.dropout)
    raise SystemExit(f"error: unknown model {name!r}; choose from {MODELS}")


def buckets(cut: int) -> tuple[int, ...]:
    return tuple(sorted({max(8, cut // 4), max(8, cut // 2), cut}))


def evaluate(eval_step, params, examples, cut: int) -> dict:
    chunks = [labelled.collate_labelled(examples[i: i + 500], buckets(cut)) for i in range(0, len(examples), 500)]
    return train.evaluate(eval_step, params, chunks)

# -----------------------------------------------------------------------------
# the experiment


def main(config: Config) -> dict:
    check_config(config)
    devices = Devices.start(config)
    print(config)
    if not config.models:
        raise SystemExit(f"error: --models must name some of {MODELS}, got none")
    if not 0 < config.test_fraction < 1:
        raise SystemExit(f"error: --test_fraction must lie in (0, 1), got {config.test_fraction}")
    roles = config.columns
    if roles.count("label") != 1 or "text" not in roles or any(r not in ("label", "text", "-") for r in roles):
        raise SystemExit(f"error: --columns names each CSV column label, text or - (one label, at least one text), got {roles!r}")
    if config.test_file and not config.train_file:
        raise SystemExit("error: --test_file needs --train_file")
    if min(config.max_words, config.max_chars, config.epochs, config.batch) < 1:
        raise SystemExit("error: --max_words, --max_chars, --epochs and --batch must be >= 1")
    train_rows, test_rows, classes = load(config)
    print(f"{len(train_rows):,} training and {len(test_rows):,} test rows, {len(classes)} classes: {', '.join(classes)}")
    out = pathlib.Path(config.out_dir)
    results = {}
    for name in config.models:
        level = name.split("_")[0]
        vocab = data.Vocab.build([(data.word_tokenize if level == "word" else data.char_tokenize)(t) for t, _ in train_rows],
                                 max_size=config.vocab_size, level=tokenizer(level, config))
        train_ex, test_ex = (encode(rows, vocab, source) for rows, source in ((train_rows, "training data"), (test_rows, "test data")))
        cut = config.max_words if level == "word" else config.max_chars
        model = build_model(name, config, len(vocab), len(classes))
        optimizer = train.optimizer(config.learning_rate, clip_norm=5.0)
        state = devices.put_state(train.TrainState.create(model.init(jax.random.key(config.seed)), optimizer, jax.random.key(config.seed + 1)))
        batches = labelled.labelled_batches(train_ex, config.batch, buckets=buckets(cut), seed=config.seed, shard=devices.shard)
        steps = config.epochs * max(1, len(train_ex) // config.batch)
        eval_step = train.make_eval_step(model.loss)
        print(f"\n== {name}: vocabulary {len(vocab):,} {level}s, {steps:,} steps")
        started = time.perf_counter()
        losses = []
        state = train.fit(state, train.make_train_step(model.loss, optimizer), batches, steps=steps,
                          log_every=max(1, min(200, steps // 5)), on_log=lambda step, metrics: losses.append(metrics["loss"]),
                          place_batch=devices.place_batch)
        seconds = time.perf_counter() - started
        metrics = evaluate(eval_step, devices.local(state.params), test_ex, cut)
        if devices.primary:  # the model, its vocabulary (with the tokenizer) and the class names: seqjax.load(out / name)
            seqjax.save_model(out / name / "model", model, devices.local(state.params), vocabularies={"vocab": vocab},
                              meta={"config": dataclasses.asdict(config), "classes": list(classes),
                                    "predict": {"batch_size": 500, "buckets": buckets(cut)}})
            plots.confusion_matrix(metrics["confusion"], classes, out / name / "confusion.png",
                                   title=f"{name}: test accuracy {100 * metrics['accuracy']:.2f}%")
        results[name] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                         "per_class_accuracy": dict(zip(classes, metrics["per_class_accuracy"])),
                         "confusion": metrics["confusion"], "train_losses": losses, "train_seconds": seconds, "steps": steps}
        print(f"{name}: test accuracy {100 * metrics['accuracy']:.2f}%, macro F1 {100 * metrics['macro_f1']:.2f}, "
              f"{seconds:.0f} s training")

    print("\nper-class test accuracy (%):")
    print("| class | " + " | ".join(results) + " |\n|---|" + "---|" * len(results))
    for i, name in enumerate(classes):
        print(f"| {name} | " + " | ".join(f"{100 * r['per_class_accuracy'][name]:.1f}" for r in results.values()) + " |")
    print("| **all** | " + " | ".join(f"**{100 * r['accuracy']:.2f}**" for r in results.values()) + " |")
    if not devices.primary:
        return results
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"classes": classes, "models": results}, indent=1))
    print(f"wrote {out / 'results.json'} and {out}/<model>/confusion.png")
    return results


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)

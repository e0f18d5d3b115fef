"""One to many: captioning images of coloured shapes, with and without attention over the image.

Images (48x48 by default) of one or two shapes are generated in code with a caption from a small
grammar (``experiments.shape_scenes``): "a small red circle above a large blue square". Some
combinations of attributes never appear in training (``--held_out``; by default four
size-colour-shape triples such as "large red triangle", while large red circles and small red
triangles are seen); the test images all contain at least one of them, so the score measures
whether a model composes what it learnt about sizes, colours and shapes, not whether it
memorised scenes. ``--held_out=red-triangle,green-square,blue-circle`` holds out colour-shape
pairs entirely, a much harder test (README: what it measures and why). Two models (``seqjax.models.Captioner``):

    init     Show and Tell: the CNN's feature map, flattened, initialises the GRU decoder
    attend   Show, Attend and Tell: the decoder attends over the CNN's 6x6 feature map at every word

both decoded greedily and with beam search (``seqjax.decoding``).

    python -m experiments.caption                          # both models (see README for the time)
    python -m experiments.caption --models=attend --steps=4000

For each model, ``--out_dir``/<model>/ holds checkpoints (kill it and rerun: it resumes), the
trained ``model/``, ``captions.png`` (test images with their greedy captions, wrong ones in red)
and, for "attend", ``attention/*.png`` (where the decoder looked for each word);
``--out_dir``/results.json has exact match on held-out combinations and on new images of seen ones.
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
from experiments import shape_scenes as shapes
from experiments.harness import Devices
from seqjax import data, decoding, train
from seqjax.core import plots
from seqjax.data import pairs
from seqjax.models.captioner import KINDS, Captioner
from seqjax.train.config import check_config

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    models: tuple[Literal["init", "attend"], ...] = ("init", "attend")
    held_out: tuple[str, ...] = tuple("-".join(c) for c in shapes.HELD_OUT)  # attribute combinations never trained on
    cell: Literal["gru", "lstm", "elman"] = "gru"
    image_size: int = 48            # at 32 a small square and a small circle differ by a few pixels (README)
    channels: tuple[int, ...] = (3, 32, 64, 64)   # image channels, then one 3x3 conv + 2x2 pool per entry
    embed: int = 64
    hidden: int = 256
    attention_size: int = 128
    dropout: float = 0.0
    word_dropout: float = 0.0       # share of the decoder's input words replaced by <UNK> in training
    weight_decay: float = 0.0
    batch: int = 64
    steps: int = 2000
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    clip_norm: float = 1.0
    test_images: int = 1000         # per evaluation set: held-out combinations, and new images of seen ones
    beam_width: int = 5
    log_every: int = 100
    eval_every: int = 500
    save_every: int = 500
    data_parallel: bool = False     # shard the batch over this process's devices
    distributed: bool = False       # one of several processes (seqjax.train.launch, SLURM, a TPU pod): see experiments/harness.py
    seed: int = 0
    out_dir: str = "runs/caption"


MAX_WORDS = 13  # the longest caption is 12 words, then <EOS>
GENERATE = {"method": "greedy", "max_length": MAX_WORDS, "batch_size": 250}  # how captions are decoded (saved with the model)

# -----------------------------------------------------------------------------
# data


def vocabulary() -> data.Vocab:
    return data.Vocab.build([shapes.words()])


def collate(images: np.ndarray, captions: list[str], vocab: data.Vocab) -> dict:
    return {"images": images, **pairs.collate_targets([vocab.encode(c.split()) for c in captions], MAX_WORDS + 1)}


def held_out(config: Config) -> tuple[tuple[str, ...], ...]:
    return shapes.check_held_out(tuple(c.split("-")) for c in config.held_out)


def make_batches(config: Config, vocab: data.Vocab, shard=None) -> data.Generated:
    """Batch ``i`` is new training scenes drawn from ``(seed, i)``: endless and resumable (``shard``: this process's rows)."""
    return data.Generated(lambda i: collate(*shapes.shape_captions(config.batch, seed=config.seed * 1_000_003 + i, split="train",
                                                                    image_size=config.image_size, held_out=held_out(config)), vocab),
                          shard=shard)


def test_sets(config: Config, size: int) -> dict[str, tuple[np.ndarray, list[str]]]:
    common = dict(image_size=config.image_size, held_out=held_out(config))
    return {"held-out combinations": shapes.shape_captions(size, seed=config.seed + 10_000, split="test", **common),
            "seen combinations, new images": shapes.shape_captions(size, seed=config.seed + 20_000, split="train", **common)}

# -----------------------------------------------------------------------------
# model and captions


def build_model(config: Config, kind: str, vocab: data.Vocab) -> Captioner:
    return Captioner.recurrent(len(vocab), image_size=config.image_size, kind=kind, cell=config.cell, channels=config.channels,
                               embed_size=config.embed, hidden_size=config.hidden, attention_size=config.attention_size,
                               dropout=config.dropout, word_dropout=config.word_dropout)


def caption(model, params, images, vocab, method: str, beam_width: int, attention: bool = False):
    """Captions (and, with ``attention``, each word's weights over the feature map), 250 images at a time."""
    return decoding.generate_all(model, params, list(images), collate=lambda chunk: (np.stack(chunk),), **GENERATE | {"method": method},
                                 beam_width=beam_width, attention=attention, render=vocab.decode)


def exact_match(model, params, config, vocab, sets: dict, method: str) -> dict[str, float]:
    return {name: float(np.mean([g == t for g, t in zip(caption(model, params, images, vocab, method, config.beam_width)[0], truth)]))
            for name, (images, truth) in sets.items()}

# -----------------------------------------------------------------------------
# the experiment


def train_one(config: Config, kind: str, vocab: data.Vocab, sets: dict, quick: dict, devices: Devices) -> dict:
    out = pathlib.Path(config.out_dir) / kind
    run = train.Run(out, config, checkpoint_every=config.save_every, keep=2)
    run.check_vocab(vocab, "vocab.json")
    model = build_model(config, kind, vocab)
    key = jax.random.fold_in(jax.random.key(config.seed), KINDS.index(kind))
    optimizer = train.optimizer(config.learning_rate, clip_norm=config.clip_norm, warmup_steps=config.warmup_steps,
                                decay_steps=config.steps, name="adamw" if config.weight_decay else "adam",
                                weight_decay=config.weight_decay)
    state = devices.put_state(train.TrainState.create(model.init(jax.random.fold_in(key, 0)), optimizer, jax.random.fold_in(key, 1)))
    print(f"\n== {kind}: {sum(x.size for x in jax.tree_util.tree_leaves(state.params)):,} parameters")
    started = time.perf_counter()
    state = train.fit(state, train.make_train_step(model.loss, optimizer), make_batches(config, vocab, devices.shard), steps=config.steps,
                      run=run, evaluate=lambda s: {f"exact {k}": v for k, v in exact_match(model, devices.local(s.params), config, vocab,
                                                                                          quick, "greedy").items()},
                      eval_every=config.eval_every, log_every=config.log_every, place_batch=devices.place_batch,
                      meta=lambda: {"config": dataclasses.asdict(config)})
    seconds = time.perf_counter() - started
    params = devices.local(state.params)
    result = {"train_seconds_this_process": seconds, "steps": int(state.step)}
    for method in ("greedy", "beam"):
        result[method] = exact_match(model, params, config, vocab, sets, method)
    if not devices.primary:  # process 0 writes the run's files
        run.close()
        return result
    seqjax.save_model(out / "model", model, params, vocabularies={"vocab": vocab},  # seqjax.load(out).generate(images)
                      meta={"config": dataclasses.asdict(config), "kind": kind, "generate": GENERATE | {"beam_width": config.beam_width}})
    images, truth = sets["held-out combinations"]
    shown = images[:12]
    texts, weights = caption(model, params, shown, vocab, "greedy", 1, attention=model.attends)
    plots.caption_grid(shown, texts, out / "captions.png", truth=truth[:12])
    (out / "captions.txt").write_text("".join(t + "\n" for t in texts))  # the greedy captions of the images shown
    for i in range(4 if model.attends else 0):
        words = texts[i].split() + ["<EOS>"]
        plots.attention_over_image(shown[i], words, weights[i], out / "attention" / f"{i}.png", title=texts[i])
    run.plot()
    return result


def main(config: Config) -> dict:
    check_config(config)
    devices = Devices.start(config)
    print(config)
    if not config.models:
        raise SystemExit(f"error: --models must name some of {KINDS}, got none")
    if config.test_images < 1:
        raise SystemExit(f"error: --test_images must be >= 1, got {config.test_images}")
    try:
        held_out(config)
    except ValueError as error:
        raise SystemExit(f"error: --held_out: {error}") from None
    vocab = vocabulary()
    sets = test_sets(config, config.test_images)
    quick = {name: (images[:200], truth[:200]) for name, (images, truth) in sets.items()}
    print(f"vocabulary {len(vocab)} words; held out in training: "
          f"{', '.join(' '.join(c) for c in held_out(config))}; {config.test_images} test images per set")
    results = {kind: train_one(config, kind, vocab, sets, quick, devices) for kind in config.models}

    print(f"\nexact match (whole caption), {config.test_images} test images per set:")
    print("| model | set | greedy | beam | training s |\n|---|---|---|---|---|")
    for kind, r in results.items():
        for name in sets:
            print(f"| {kind} | {name} | {100 * r['greedy'][name]:.2f}% | {100 * r['beam'][name]:.2f}% | "
                  f"{r['train_seconds_this_process']:.0f} |")
    if not devices.primary:
        return results
    path = pathlib.Path(config.out_dir) / "results.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path} and {config.out_dir}/<model>/captions.png, attend/attention/*.png")
    return results


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)

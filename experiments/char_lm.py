"""Character-level language model of tiny Shakespeare (many-to-many): a recurrent net trained
statefully, or a transformer (``--model=transformer``).

Karpathy's char-rnn task: read characters, predict the next one. The text is cut into
``batch`` parallel streams; each step trains on the next ``window`` characters of every
stream. A recurrent net starts from the state the previous step ended in (truncated BPTT:
the gradient stops at the window boundary, the state does not); a transformer (nanoGPT's
GPT: pre-norm, learned positions, tied readout) reads each window on its own, its context
being the window. Reported in bits per character on the held-out last 10% of the text, with
samples along the way.

    python -m experiments.char_lm                              # LSTM 1x256, 2000 steps: ~2.5 min on 2 CPU cores
    python -m experiments.char_lm --model=transformer          # 4 layers, 4 heads, 128 dims, context 64 (nanoGPT's CPU config)
    python -m experiments.char_lm --cell=gru --hidden=512 --steps=5000
    python -m experiments.char_lm --precision=bfloat16 --remat=true
    python -m experiments.char_lm --cudnn=true --hidden=1024     # on a CUDA GPU
    python -m experiments.char_lm --help
    python -m seqjax.train.launch --processes=2 --local_devices=2 -- python -m experiments.char_lm --distributed=true

Kill it at any moment and run the same command again: it resumes from the newest
checkpoint in ``--out_dir`` and ends with the same parameters, bit for bit, as a run
that was never interrupted. The text comes from ``--data`` (a file, or a folder with
``tinyshakespeare/input.txt``), else ``$SEQJAX_DATA_DIR``, the cache, or a download.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

import seqjax
from experiments.harness import Devices
from seqjax import data, train
from seqjax.models import RecurrentLM, TransformerLM
from seqjax.train.config import check_config

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    data: str = ""               # tinyshakespeare/input.txt, or a folder holding it; "" = search the data dirs
    model: Literal["rnn", "transformer"] = "rnn"
    cell: Literal["lstm", "gru", "elman", "min_gru", "min_lstm"] = "lstm"  # rnn
    layers: int | None = None    # None: 1 (rnn), 4 (transformer)
    embed: int = 64              # rnn: the characters' embedding (a transformer's is --hidden)
    hidden: int | None = None    # None: 256 (rnn), 128 (transformer: d_model)
    heads: int = 4               # transformer: attention heads
    dropout: float = 0.0         # transformer: dropout (nanoGPT's CPU config: 0)
    batch: int = 32              # parallel streams
    window: int = 64             # truncated-BPTT length (characters per step)
    reset_prob: float = 0.05     # chance per row and window of restarting from the zero state (see make_loss)
    steps: int = 2000
    learning_rate: float | None = None  # None: 2e-3 (rnn), 1e-3 (transformer)
    clip_norm: float = 1.0
    warmup_steps: int = 100
    precision: Literal["float32", "bfloat16"] = "float32"  # bfloat16: bfloat16 compute, float32 params
    remat: bool = False          # recompute each step in the backward pass (less memory)
    cudnn: bool = False          # LSTM layers on cuDNN's kernel (CUDA GPUs, float32; seqjax.cudnn); sampling steps the cell
    data_parallel: bool = False  # shard the batch over all local devices
    distributed: bool = False    # one of several processes (seqjax.train.launch, SLURM, a TPU pod): data parallel over all
    log_every: int = 50
    eval_every: int = 500
    eval_windows: int = 20       # held-out windows of batch x window characters per evaluation
    save_every: int = 250
    keep: int = 3
    sample_chars: int = 400
    prime: str = "ROMEO:"        # the sample's opening (characters outside the vocabulary are dropped)
    temperature: float = 0.8     # 0: always the most likely character
    top_k: int = 0               # sample among the k most likely characters (0: all)
    top_p: float = 1.0           # sample from the smallest set of characters whose probability reaches top_p
    seed: int = 0
    out_dir: str = "runs/char_lm"


CELLS = {"lstm": seqjax.LSTM, "gru": seqjax.GRU, "elman": seqjax.Elman, "min_gru": seqjax.MinGRU, "min_lstm": seqjax.MinLSTM}
MODEL_DEFAULTS = {"rnn": dict(layers=1, hidden=256, learning_rate=2e-3), "transformer": dict(layers=4, hidden=128, learning_rate=1e-3)}


def resolve(config: Config) -> Config:
    """The config with every field left at None set to ``--model``'s default (what gets printed and saved)."""
    check_config(config)
    if config.model == "transformer" and (config.cudnn or config.remat):
        raise SystemExit("error: --cudnn and --remat are options of the recurrent model (--model=rnn)")
    config = dataclasses.replace(config, **{k: v for k, v in MODEL_DEFAULTS[config.model].items() if getattr(config, k) is None})
    try:  # the model's own checks (heads dividing --hidden, sizes), before any data is read or anything written
        build_model(config, 2)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    return config

# -----------------------------------------------------------------------------
# model: embedding -> stacked cells -> linear readout over the characters


def make_cell(config: Config, vocab_size: int):
    sizes = [config.embed] + [config.hidden] * config.layers
    layers = [CELLS[config.cell](sizes[i], sizes[i + 1]) for i in range(config.layers)]
    return layers[0] if config.layers == 1 else seqjax.Stack(tuple(layers))


def make_loss(model: RecurrentLM, config: Config):
    """Stateful loss: each row continues from the carried state, except on an epoch's first
    window and, with probability ``reset_prob``, at random. Without those random resets
    the model only ever sees a zero state a few times per run, and sampling (which starts
    from zero) wanders off into garbage after a short prime: observed at 1,500 steps."""

    def loss_fn(params, batch, key, carry):
        fresh = model.cell.initial_state(batch["ids"].shape[0])
        restart = batch["reset"] | (jax.random.uniform(key, (batch["ids"].shape[0],)) < config.reset_prob)
        carry = jax.tree_util.tree_map(lambda f, c: jnp.where(restart[:, None], f, c), fresh, carry)
        logits, carry = model.logits(params, batch["ids"], carry, options=seqjax.ScanOptions(remat=config.remat, cudnn=config.cudnn))
        loss, sums = train.cross_entropy(logits, batch["targets"])
        return loss, (sums, carry)

    return loss_fn


# -----------------------------------------------------------------------------
# evaluation (bits per character on held-out text) and sampling (seqjax.decoding)


def held_out_windows(val_ids: np.ndarray, config: Config) -> list[dict]:
    stream = data.TokenStream(val_ids, config.batch, config.window, shuffle_offset=False)
    return [next(stream) for _ in range(min(config.eval_windows, len(stream)))]


def make_evaluate(model: RecurrentLM, val_ids: np.ndarray, config: Config):
    windows = held_out_windows(val_ids, config)

    @jax.jit
    def eval_window(params, state, batch):
        logits, state = model.logits(params, batch["ids"], state, options=seqjax.ScanOptions(cudnn=config.cudnn))
        return train.cross_entropy(logits, batch["targets"])[1], state

    def evaluate(train_state):
        total, state = None, model.cell.initial_state(config.batch)
        for batch in windows:  # stateful too: each window continues the previous one
            sums, state = eval_window(train_state.params, state, batch)
            total = train.add(total, sums)
        return train.summarize(total)

    return evaluate


def sample(model: RecurrentLM | TransformerLM, params, vocab: data.Vocab, prime: str, length: int, config: Config, key) -> str:
    """Feeds ``prime``, then samples ``length`` characters (``model.generate``: one compiled loop of
    ``seqjax.decoding``; temperature, top-k and top-p from the config)."""
    out = model.generate(params, jnp.array(vocab.encode(prime))[None], key=key, **sampling(config) | {"max_length": length})
    return prime + vocab.decode(np.asarray(out.tokens[0]))


def sampling(config: Config) -> dict:
    """How samples are drawn (saved with the model: ``seqjax.load(out_dir).generate([prime], key=key)``)."""
    return {"method": "sample", "max_length": config.sample_chars, "temperature": config.temperature, "top_k": config.top_k or None,
            "top_p": config.top_p}


# -----------------------------------------------------------------------------
# the transformer: seqjax.models.TransformerLM; each window read on its own (no carry), sampling
# through its KV cache (past the context it re-reads the last `window` characters, as nanoGPT)


def build_model(config: Config, vocab_size: int) -> RecurrentLM | TransformerLM:
    """``--model``'s language model over ``vocab_size`` characters."""
    return make_transformer(config, vocab_size) if config.model == "transformer" else RecurrentLM(vocab_size, make_cell(config, vocab_size))


def make_transformer(config: Config, vocab_size: int) -> TransformerLM:
    return TransformerLM(vocab_size, d_model=config.hidden, num_heads=config.heads, num_layers=config.layers,
                         context=config.window, dropout=config.dropout)


def make_transformer_evaluate(model: TransformerLM, val_ids: np.ndarray, config: Config):
    eval_step = train.make_eval_step(model.loss)
    windows = held_out_windows(val_ids, config)
    return lambda train_state: train.evaluate(eval_step, train_state.params, windows)


# -----------------------------------------------------------------------------
# the experiment


def main(config: Config) -> dict:
    config = resolve(config)
    devices = Devices.start(config)  # before any other JAX call; the coordinator comes from the launcher or the cluster
    print(config)
    if config.cudnn and (why := seqjax.cudnn.unavailable("--cudnn=true")):
        raise SystemExit(f"error: {why}")
    text = data.datasets.tiny_shakespeare(config.data or None)
    vocab = data.Vocab.build(text, level="char", specials=False)  # every character is real; no <UNK> to sample
    ids = np.array(vocab.encode(text), np.int32)
    split = int(0.9 * len(ids))
    print(f"{len(text):,} characters, vocabulary {len(vocab)}; train {split:,}, held out {len(ids) - split:,}")

    run = train.Run(config.out_dir, config, checkpoint_every=config.save_every, keep=config.keep)
    run.save_vocab(vocab)
    key = jax.random.key(config.seed)
    optimizer = train.optimizer(config.learning_rate, clip_norm=config.clip_norm, warmup_steps=config.warmup_steps,
                                decay_steps=config.steps)
    model = build_model(config, len(vocab))
    if config.model == "transformer":
        state = train.TrainState.create(model.init(jax.random.fold_in(key, 0)), optimizer, jax.random.fold_in(key, 1))
        loss_fn, evaluate_bpc = model.loss, make_transformer_evaluate(model, ids[split:], config)
    else:
        state = train.TrainState.create(model.init(jax.random.fold_in(key, 0)), optimizer, jax.random.fold_in(key, 1),
                                        carry=model.cell.initial_state(config.batch))
        loss_fn, evaluate_bpc = make_loss(model, config), make_evaluate(model, ids[split:], config)
    draw = functools.partial(sample, model)
    print(f"{sum(x.size for x in jax.tree_util.tree_leaves(state.params)):,} parameters")
    compute_dtype = {"float32": None, "bfloat16": jnp.bfloat16}[config.precision]
    train_step = train.make_train_step(loss_fn, optimizer, compute_dtype=compute_dtype)
    batches = data.TokenStream(ids[:split], config.batch, config.window, seed=config.seed, shard=devices.shard)
    state = devices.put_state(state)

    prime = "".join(c for c in config.prime if c in vocab) or text[0]

    def evaluate(train_state):
        params = devices.local(train_state.params)  # every process evaluates on its own copy
        results = evaluate_bpc(train_state._replace(params=params))
        step = int(train_state.step)
        text = draw(params, vocab, prime, config.sample_chars, config, jax.random.fold_in(key, 10**6 + step))
        run.write_sample(step, text)
        print(f"--- sample at step {step} ---\n{text}\n---", flush=True)
        return results

    state = train.fit(state, train_step, batches, steps=config.steps, run=run, evaluate=evaluate,
                      eval_every=config.eval_every, log_every=config.log_every, place_batch=devices.place_batch,
                      meta=lambda: {"config": dataclasses.asdict(config)})  # each checkpoint describes its run
    if devices.primary:  # seqjax.load(out_dir / "model") rebuilds the model with its vocabulary, no experiment code needed
        seqjax.save_model(run.dir / "model", model, devices.local(state.params), vocabularies={"vocab": vocab},
                          meta={"config": dataclasses.asdict(config), "generate": sampling(config)})
    final = [m for m in run.metrics() if m["split"] == "eval"][-1]
    first = [m for m in run.metrics() if m["split"] == "train"][0]
    print(f"held-out {final['loss_bits']:.3f} bits/char = {final['loss_nats']:.3f} nats/char (perplexity {final['perplexity']:.2f}); "
          f"first train log {first['loss_bits']:.3f} bits/char; {train_step.compilations} compilation(s) of the train step")
    print(f"wrote {run.plot()} and {run.metrics_path}")
    run.close()
    return {"eval": final, "first_train": first, "params_checksum": train.checkpoint.checksum(state.params)}


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)

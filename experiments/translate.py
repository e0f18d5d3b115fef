"""Multi30k German→English translation: a bidirectional-GRU encoder with an additive-attention GRU
decoder, or a Transformer (``--model=transformer``).

The lectures' sequence-to-sequence lab (Bahdanau et al. 2015 on Multi30k, as in the public
PyTorch tutorials): 29,000 training pairs, tokenised in code (words and punctuation, case
kept), vocabularies of the tokens seen at least twice, batches bucketed by length, teacher
forcing, then greedy and beam-search translation of the 1,000 sentences of test_2016_flickr.
BLEU is reported two ways: sacrebleu on detokenised cased output (the standard), and BLEU
over lowercased tokens (how the PyTorch tutorials report it, so their numbers compare).

    python -m experiments.translate                                  # the long config (see README for its time)
    python -m experiments.translate --model=transformer --out_dir=runs/translate_transformer     # 3+3 layers, 256 dims, 8 heads
    python -m experiments.translate --model=transformer --steps=300 --d_model=64 --heads=4 --layers=2 --d_ff=128 \
        --warmup_steps=50 --learning_rate=2e-3 --test_sentences=200 --out_dir=runs/translate_transformer_short
    python -m experiments.translate --steps=300 --embed=64 --hidden=128 --test_sentences=200 --out_dir=runs/translate_short
    python -m experiments.translate --translate="Ein Mann fährt Fahrrad."       # with a trained run
    python -m experiments.translate --translate_file=sentences.de                # one sentence a line

It writes ``--out_dir``: checkpoints (kill it and rerun: it resumes), ``model/`` (the trained
parameters with the vocabularies), ``hypotheses.{greedy,beam}.en``, ``attention/*.png`` and
``results.json``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Literal

import jax

import seqjax
from experiments.harness import Devices
from seqjax import data, decoding, train
from seqjax.core import plots
from seqjax.data import pairs
from seqjax.data.tokenizer import DETOKENIZE
from seqjax.models import Seq2Seq, Transformer
from seqjax.train.config import check_config

# -----------------------------------------------------------------------------
# config


@dataclasses.dataclass(frozen=True)
class Config:
    data: str = ""                  # a folder holding multi30k/*.gz (or the multi30k folder); "" = search the data dirs
    model: Literal["rnn", "transformer"] = "rnn"
    cell: Literal["gru", "lstm"] = "gru"  # rnn
    embed: int = 256
    hidden: int = 512               # per direction in the encoder; the decoder's size
    attention: Literal["additive", "dot", "general", "scaled_dot", "none"] = "additive"
    readout_hidden: int = 512       # Bahdanau's deep output: tanh layer between [y; a] and the vocabulary (0: none)
    d_model: int = 256              # transformer: model size (the PyTorch tutorial's: 256, 8 heads, 3+3 layers, 512)
    heads: int = 8
    layers: int = 3                 # encoder layers, and as many decoder layers
    d_ff: int = 512
    norm_first: bool = False        # transformer: pre-norm layers (False: the paper's post-norm)
    dropout: float | None = None    # None: 0.5 (rnn), 0.1 (transformer)
    label_smoothing: float | None = None  # None: 0 (rnn), 0.1 (transformer)
    tokenizer: Literal["word", "bpe"] = "word"  # word: words and punctuation; bpe: byte-level BPE learnt on the training split
    bpe_size: int = 8000            # --tokenizer=bpe: tokens per language's vocabulary (specials included)
    min_freq: int = 2               # --tokenizer=word: a word seen fewer times is <UNK>
    batch: int = 128
    steps: int = 3000               # about 13 epochs of the 29,000 pairs
    learning_rate: float | None = None    # None: 1e-3 (rnn), 5e-4 (transformer)
    clip_norm: float = 1.0
    warmup_steps: int | None = None       # None: 100 (rnn), 400 (transformer)
    buckets: tuple[int, ...] = (8, 12, 16, 20, 24, 32, 48)
    log_every: int = 50
    eval_every: int = 500
    save_every: int = 250
    keep: int = 2
    beam_width: int = 5
    length_penalty: float = 0.6     # GNMT's α
    max_length: int = 60            # most tokens generated per sentence
    test_sentences: int = 0         # 0: all 1,000 of test_2016_flickr
    heatmaps: int = 3               # attention plots of the first test sentences
    translate: str = ""             # translate this German sentence with the trained run in out_dir, then stop
    translate_file: str = ""        # translate every line of this file (one output line per input line)
    data_parallel: bool = False     # shard the batch over this process's devices
    distributed: bool = False       # one of several processes (seqjax.train.launch, SLURM, a TPU pod): see experiments/harness.py
    seed: int = 0
    out_dir: str = "runs/translate"


# -----------------------------------------------------------------------------
# tokens: words (with inner apostrophes) and single punctuation marks, case kept; written back with no
# space before closing punctuation or after opening brackets, hyphenated words joined ("T - shirt" ->
# "T-shirt"). The vocabularies carry this tokenizer, so seqjax.load(run_dir) translates raw text.
TOKENIZER = data.Tokenizer.word(lower=False, rules=DETOKENIZE)


def tokenize(text: str) -> list[str]:
    return TOKENIZER(text)


def detokenize(tokens: list[str]) -> str:
    return TOKENIZER.render(tokens)


def vocabularies(config: Config, train_pairs: list[tuple[str, str]]):
    """``(source vocabulary, target vocabulary, split)``, learnt on the training split only: words seen
    ``min_freq`` times (``split`` = ``tokenize``), or byte-level BPE (``split`` leaves the text whole:
    the vocabulary splits it)."""
    if config.tokenizer == "bpe":
        from seqjax.data.subword import SubwordVocab

        return (SubwordVocab.train([s for s, _ in train_pairs], kind="bpe", vocab_size=config.bpe_size),
                SubwordVocab.train([t for _, t in train_pairs], kind="bpe", vocab_size=config.bpe_size), lambda text: text)
    return (data.Vocab.build([tokenize(s) for s, _ in train_pairs], min_freq=config.min_freq, level=TOKENIZER),
            data.Vocab.build([tokenize(t) for _, t in train_pairs], min_freq=config.min_freq, level=TOKENIZER), tokenize)


def hypothesis(ids: list[int], vocab) -> tuple[str, list[str]]:
    """A translation as text (what the hypotheses file holds and sacreBLEU reads) and as words (for the
    lowercased-token BLEU): the vocabulary's words, or the decoded subwords' text split into words."""
    if vocab.level == "subword":
        text = vocab.decode(ids)
        return text, tokenize(text)
    words = [vocab.tokens[i] for i in ids]
    return detokenize(words), words


def bleu(hypotheses: list[list[str]], references: list[str], texts: list[str] | None = None) -> dict[str, float]:
    """sacrebleu's BLEU on detokenised cased text (13a tokenizer; ``texts``, or the detokenised
    ``hypotheses``), and BLEU over our lowercased tokens."""
    import sacrebleu

    standard = sacrebleu.corpus_bleu(texts if texts is not None else [detokenize(h) for h in hypotheses], [references]).score
    lowered = sacrebleu.corpus_bleu([" ".join(h).lower() for h in hypotheses],
                                    [[" ".join(tokenize(r)).lower() for r in references]], tokenize="none", force=True).score
    return {"sacrebleu_cased": standard, "bleu_lowercased_tokens": lowered}


# -----------------------------------------------------------------------------
# model


MODEL_DEFAULTS = {"rnn": dict(dropout=0.5, label_smoothing=0.0, learning_rate=1e-3, warmup_steps=100),
                  "transformer": dict(dropout=0.1, label_smoothing=0.1, learning_rate=5e-4, warmup_steps=400)}


def resolve(config: Config) -> Config:
    """The config with every field left at None set to ``--model``'s default (what gets printed and saved)."""
    check_config(config)
    unset = {k: v for k, v in MODEL_DEFAULTS[config.model].items() if getattr(config, k) is None}
    config = dataclasses.replace(config, **unset)
    try:  # the model's own checks (heads dividing --d_model, rates), before any data is read or anything written
        build_model(config, 8, 8)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    return config


def build_model(config: Config, src_size: int, tgt_size: int) -> Seq2Seq | Transformer:
    if config.model == "transformer":
        return Transformer(src_size, tgt_size, d_model=config.d_model, num_heads=config.heads, encoder_layers=config.layers,
                           decoder_layers=config.layers, d_ff=config.d_ff, dropout=config.dropout, norm_first=config.norm_first,
                           label_smoothing=config.label_smoothing)
    return Seq2Seq.recurrent(src_size, tgt_size, cell=config.cell, embed_size=config.embed, hidden_size=config.hidden,
                             attention=config.attention, dropout=config.dropout, label_smoothing=config.label_smoothing,
                             readout_hidden=config.readout_hidden or None)


def generate_settings(config: Config) -> dict:
    """How the test set is decoded (beam search unless ``method`` says otherwise); saved with the model."""
    return {"method": "beam", "batch_size": config.batch, "buckets": (16, 32, 48, 64), "max_length": config.max_length,
            "beam_width": config.beam_width, "length_penalty": config.length_penalty}


def translate_all(model, params, sources: list[list[int]], config: Config, method: str, attention: bool = False):
    """Generated ids for every source (in order), batched and bucketed; with the attention weights."""
    return decoding.generate_all(model, params, sources, **generate_settings(config) | {"method": method}, attention=attention,
                                 render=pairs.strip_specials)


# -----------------------------------------------------------------------------
# a trained run: --translate / --translate_file


def load_trained(out_dir: str):
    """The config, model, parameters and vocabularies of a trained run (``seqjax.train.load_run``)."""
    config, model, params, (src_vocab, tgt_vocab), where = train.load_run(out_dir, Config(), lambda config, src, tgt: build_model(config, len(src), len(tgt)), ("src_vocab", "tgt_vocab"))
    print(f"using {where}")
    return config, model, params, src_vocab, tgt_vocab


def translate_lines(config: Config, lines: list[str]) -> list[str]:
    trained, model, params, src_vocab, tgt_vocab = load_trained(config.out_dir)
    tokens = [tokenize(line) for line in lines]
    empty = [i + 1 for i, t in enumerate(tokens) if not t]
    if empty:
        raise SystemExit(f"error: line {empty[0]} of the input is empty: there is nothing to translate")
    unknown = [] if src_vocab.level == "subword" else sorted({t for line in tokens for t in line if t not in src_vocab})
    if unknown:  # (byte-level BPE reads every text)
        print(f"{len(unknown)} unknown word(s) read as <UNK>: {' '.join(unknown[:20])}")
    sources = [src_vocab.encode(line if src_vocab.level == "subword" else t) for line, t in zip(lines, tokens)]
    run = dataclasses.replace(trained, batch=config.batch, beam_width=config.beam_width, max_length=config.max_length)
    outputs, _ = translate_all(model, params, sources, run, "beam")
    return [hypothesis(ids, tgt_vocab)[0] for ids in outputs]


# -----------------------------------------------------------------------------
# the experiment


def main(config: Config) -> dict:
    if config.translate or config.translate_file:
        lines = [config.translate] if config.translate else pathlib.Path(config.translate_file).read_text(encoding="utf-8").splitlines()
        translations = translate_lines(config, lines)
        print("\n".join(translations))
        return {"translations": translations}
    config = resolve(config)
    devices = Devices.start(config)
    print(config)
    where = config.data or None
    train_pairs, val_pairs = data.datasets.multi30k("train", where), data.datasets.multi30k("val", where)
    test_pairs = data.datasets.multi30k("test_2016_flickr", where)[: config.test_sentences or None]
    src_vocab, tgt_vocab, split = vocabularies(config, train_pairs)
    train_ex = pairs.encode_pairs(train_pairs, src_vocab, tgt_vocab, split)
    val_ex = pairs.encode_pairs(val_pairs, src_vocab, tgt_vocab, split)
    cut = f"BPE, {config.bpe_size:,} at most" if config.tokenizer == "bpe" else f"min_freq {config.min_freq}"
    print(f"{len(train_ex):,} training pairs; vocabularies de {len(src_vocab):,}, en {len(tgt_vocab):,} ({cut}); "
          f"<UNK> in validation: {100 * pairs.unknown_rate(val_ex)[0]:.1f}% de, {100 * pairs.unknown_rate(val_ex)[1]:.1f}% en")

    run = train.Run(config.out_dir, config, checkpoint_every=config.save_every, keep=config.keep)
    run.check_vocab(src_vocab, "src_vocab.json")
    run.check_vocab(tgt_vocab, "tgt_vocab.json")
    model = build_model(config, len(src_vocab), len(tgt_vocab))
    key = jax.random.key(config.seed)
    optimizer = train.optimizer(config.learning_rate, clip_norm=config.clip_norm, warmup_steps=config.warmup_steps,
                                decay_steps=config.steps)
    state = devices.put_state(train.TrainState.create(model.init(jax.random.fold_in(key, 0)), optimizer, jax.random.fold_in(key, 1)))
    train_step = train.make_train_step(model.loss, optimizer)
    batches = pairs.pair_batches(train_ex, config.batch, buckets=config.buckets, seed=config.seed, shard=devices.shard)
    eval_step = train.make_eval_step(model.loss)
    val_batches = [pairs.collate_pairs(val_ex[i: i + config.batch], config.buckets) for i in range(0, len(val_ex), config.batch)]

    # training (resumes from the newest checkpoint in out_dir)
    started = time.perf_counter()
    state = train.fit(state, train_step, batches, steps=config.steps, run=run, log_every=config.log_every,
                      evaluate=lambda s: train.evaluate(eval_step, devices.local(s.params), val_batches), eval_every=config.eval_every,
                      place_batch=devices.place_batch, meta=lambda: {"config": dataclasses.asdict(config)})
    train_seconds = time.perf_counter() - started
    params = devices.local(state.params)
    if devices.primary:  # process 0 writes the run's files; every process decodes the test set alike
        seqjax.save_model(run.dir / "model", model, params, vocabularies={"src": src_vocab, "tgt": tgt_vocab},
                          meta={"config": dataclasses.asdict(config), "generate": generate_settings(config)})  # seqjax.load(run_dir)

    # translation of the test set: greedy and beam search, BLEU both ways
    sources = [src_vocab.encode(split(s)) for s, _ in test_pairs]
    references = [t for _, t in test_pairs]
    results = {"train_seconds_this_process": train_seconds, "steps": int(state.step), "test_sentences": len(sources),
               "compilations_of_the_train_step": train_step.compilations}
    for method in ("greedy", "beam"):
        started = time.perf_counter()
        outputs, weights = translate_all(model, params, sources, config, method, attention=method == "greedy")
        seconds = time.perf_counter() - started
        texts, hypotheses = zip(*(hypothesis(ids, tgt_vocab) for ids in outputs)) if outputs else ((), ())
        if devices.primary:
            (run.dir / f"hypotheses.{method}.en").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        results[method] = {**bleu(list(hypotheses), references, list(texts)), "seconds": seconds}
        print(f"{method:>6}: sacreBLEU {results[method]['sacrebleu_cased']:.2f} (cased, detokenised), "
              f"BLEU {results[method]['bleu_lowercased_tokens']:.2f} (lowercased tokens); {seconds:.1f} s for {len(sources)} sentences")
        if method == "greedy" and devices.primary:
            for i in range(min(config.heatmaps, len(sources))):
                source_tokens = [src_vocab.tokens[j] for j in sources[i]]
                pieces = [tgt_vocab.tokens[j] for j in outputs[i]]  # one row of weights per generated token (subword)
                shown = pieces + (["<EOS>"] if len(pieces) < config.max_length else [])
                plots.attention_heatmap(weights[i], source_tokens, shown, run.dir / "attention" / f"test_{i}.png", title=texts[i])
    if not devices.primary:
        run.close()
        return results
    for i in range(min(3, len(sources))):
        print(f"  de: {test_pairs[i][0]}\n  en: {references[i]}\n  ->  {(run.dir / 'hypotheses.beam.en').read_text().splitlines()[i]}")
    final = [m for m in run.metrics() if m["split"] == "eval"][-1]
    results["val"] = {k: final[k] for k in ("loss_nats", "perplexity")}
    (run.dir / "results.json").write_text(json.dumps(results, indent=1))
    print(f"validation perplexity {final['perplexity']:.2f}; wrote {run.dir / 'results.json'}, {run.plot()}")
    run.close()
    return results


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)

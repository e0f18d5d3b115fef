"""The attention seq2seq of experiments.translate: training step against PyTorch, beam search against greedy.

    python -m benchmarks.seq2seq                                   # both parts, Multi30k's sizes
    python -m benchmarks.seq2seq --parts=train --reps=5
    python -m benchmarks.seq2seq --parts=decode --model=runs/translate/model

**Training step** (forward, backward, Adam): a bidirectional-GRU encoder, a bridge, an
additive-attention GRU decoder and a deep-output readout, at embedding 256, hidden 512, batch
128, vocabularies of Multi30k's sizes (de 8,019, en 6,278) and source/target lengths like its
batches (``--lengths``: the bucket lengths the experiment pads to). The PyTorch model is the
same architecture written as the public tutorials write it (``nn.GRU`` encoder over packed
sequences, an ``nn.GRUCell`` decoder stepped in Python, ``cross_entropy(ignore_index=PAD)``)
with reset-after GRUs (PyTorch's form); its weights are converted to seqjax's parameters, and
both losses are checked equal at start-up before anything is timed. No dropout in either.
``vs torch`` is PyTorch's median time over seqjax's (above 1: seqjax is faster).

**Decoding**: greedy and beam search (width 5) of Multi30k's test_2016_flickr (1,000 sentences,
batches of 128), with ``seqjax.decoding`` (one compiled ``while_loop`` per batch) and with a
plain Python loop around a jitted step function (the step compiled, the search written with
NumPy between steps). The model is a trained one (``--model``, e.g. ``runs/translate/model``)
when it exists, else random weights of the same sizes (which rarely say <EOS>, so every
sentence runs to ``--max_length``). Both implementations find the same translations (checked).
The bound of beam search's time over greedy's is ``step_rows_k_vs_1``: one decoding step of the
model with ``beam_width`` rows per sentence over one with a row per sentence (both searches run
about as many steps, and a beam step has to compute every row).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import finish, format_table, interleaved_medians, run_main, torch_device, torch_train_step, warm_up
from seqjax import data, decoding, train
from seqjax.cells.gru import GRU
from seqjax.data import pairs
from seqjax.data.vocab import EOS_ID, GO_ID, PAD_ID
from seqjax.interop.torch import from_torch
from seqjax.models import Seq2Seq


@dataclasses.dataclass(frozen=True)
class Config:
    parts: tuple[str, ...] = ("train", "decode")
    embed: int = 256
    hidden: int = 512
    readout_hidden: int = 512
    batch: int = 128
    src_vocab: int = 8019
    tgt_vocab: int = 6278
    lengths: tuple[int, ...] = (16, 24)   # source = target length of the timed batches (Multi30k's common buckets)
    reps: int = 5
    budget_s: float = 60.0
    data: str = ""                        # for --parts=decode: a folder holding multi30k/, "" = search the data dirs
    model: str = "runs/translate/model"   # a trained experiments.translate model, if there is one
    beam_width: int = 5
    max_length: int = 60
    sentences: int = 0                    # 0: all 1,000 test sentences
    out: str = "benchmarks/results/seq2seq.json"


def seqjax_model(config: Config, src_vocab: int, tgt_vocab: int) -> Seq2Seq:
    return Seq2Seq.recurrent(src_vocab, tgt_vocab, cell=functools.partial(GRU, reset_after=True), embed_size=config.embed,
                             hidden_size=config.hidden, readout_hidden=config.readout_hidden)


# -----------------------------------------------------------------------------
# the PyTorch peer and its weights in seqjax's tree


def torch_model(config: Config):
    import torch
    from torch import nn

    class AttentionSeq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            e, h = config.embed, config.hidden
            self.src_embed = nn.Embedding(config.src_vocab, e, padding_idx=PAD_ID)
            self.tgt_embed = nn.Embedding(config.tgt_vocab, e, padding_idx=PAD_ID)
            self.encoder = nn.GRU(e, h, bidirectional=True, batch_first=True)
            self.bridge_state, self.bridge_query = nn.Linear(2 * h, h), nn.Linear(2 * h, h)
            self.wq, self.wk, self.v = nn.Linear(h, h, bias=False), nn.Linear(2 * h, h), nn.Linear(h, 1, bias=False)
            self.cell = nn.GRUCell(e + 2 * h, h)
            self.hidden, self.out = nn.Linear(3 * h, config.readout_hidden), nn.Linear(config.readout_hidden, config.tgt_vocab)

        def forward(self, source, source_lengths, target_inputs, target_outputs):
            packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(source), source_lengths, batch_first=True, enforce_sorted=False)
            outputs, final = self.encoder(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
            summary = torch.cat([final[0], final[1]], -1)
            s, query = torch.tanh(self.bridge_state(summary)), torch.tanh(self.bridge_query(summary))
            keys = self.wk(memory)
            pad = torch.arange(source.shape[1])[None] >= source_lengths[:, None]
            ys = []
            for t in range(target_inputs.shape[1]):
                scores = self.v(torch.tanh(self.wq(query)[:, None] + keys))[..., 0].masked_fill(pad, float("-inf"))
                context = torch.bmm(torch.softmax(scores, -1)[:, None], memory)[:, 0]
                s = self.cell(torch.cat([self.tgt_embed(target_inputs[:, t]), context], -1), s)
                query = s
                ys.append(torch.cat([s, context], -1))
            logits = self.out(torch.tanh(self.hidden(torch.stack(ys, 1))))
            return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_outputs.reshape(-1), ignore_index=PAD_ID)

    torch.manual_seed(0)
    return AttentionSeq2Seq()


def params_from_torch(module) -> dict:
    linear = lambda m: from_torch(m)[1]  # noqa: E731
    _, encoder = from_torch(module.encoder)
    _, cell = from_torch(module.cell)
    return {"src_embed": from_torch(module.src_embed)[1], "tgt_embed": from_torch(module.tgt_embed)[1], "encoder": encoder,
            "bridge": (linear(module.bridge_state), linear(module.bridge_query)),
            "decoder": {"cell": cell, "attention": {"wq": linear(module.wq)["w"], "wk": linear(module.wk)["w"],
                                                    "b": linear(module.wk)["b"], "v": linear(module.v)["w"][:, 0]}},
            "readout": {"hidden": linear(module.hidden), **linear(module.out)}}


def timed_batch(config: Config, length: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    examples = [(list(rng.integers(4, config.src_vocab, rng.integers(length // 2, length + 1))),
                 list(rng.integers(4, config.tgt_vocab, rng.integers(length // 2, length)))) for _ in range(config.batch)]
    return pairs.collate_pairs(examples, (length,))


def train_rows(config: Config) -> list[dict]:
    import torch

    device, sync = torch_device()
    model = seqjax_model(config, config.src_vocab, config.tgt_vocab)
    optimizer = train.optimizer(1e-3, clip_norm=None)
    step = train.make_train_step(model.loss, optimizer)
    rows = []
    for length in config.lengths:
        peer = torch_model(config).to(device)  # fresh weights for each length: the timed steps update the peer's
        params = params_from_torch(peer)
        torch_optimizer = torch.optim.Adam(peer.parameters(), lr=1e-3)
        batch = timed_batch(config, length)
        tensors = [torch.from_numpy(batch[k]).long().to(device) for k in ("source", "source_lengths", "target_inputs", "target_outputs")]
        tensors[1] = tensors[1].cpu()  # pack_padded_sequence wants lengths on the CPU
        want = float(peer(*tensors).detach())
        got = float(model.loss(params, batch)[0])
        if not np.isclose(got, want, rtol=1e-4):
            raise AssertionError(f"seq2seq benchmark: seqjax's loss {got} differs from PyTorch's {want} with the same weights "
                                 f"(length {length})")
        state = train.TrainState.create(params, optimizer, jax.random.key(0))

        def seqjax_step(state=state):
            return step(state, batch)[1]["loss"]

        torch_step = torch_train_step(peer, torch_optimizer, tensors, sync)
        warm_up([seqjax_step, torch_step], threads=1)
        timings = interleaved_medians({"seqjax": seqjax_step, "torch": torch_step}, reps=config.reps, budget_s=config.budget_s)
        tokens = int(batch["target_lengths"].sum())
        row = {"part": "train step", "length": length, "seqjax_ms": 1e3 * timings["seqjax"][0], "torch_ms": 1e3 * timings["torch"][0],
               "target_tokens_per_s": tokens / timings["seqjax"][0], "loss_checked": got}
        row["vs_torch"] = row["torch_ms"] / row["seqjax_ms"]
        print(row, flush=True)
        rows.append(row)
    return rows


# -----------------------------------------------------------------------------
# decoding: seqjax.decoding against a Python loop of a jitted step


def load_decoding_model(config: Config):
    """``(model, params, src_vocab, description)``: the trained model at ``config.model``, else random weights."""
    folder = pathlib.Path(config.model)
    if (folder / "meta.json").exists():
        meta = train.read_meta(folder)
        saved = meta["config"]
        src_vocab, tgt_vocab = data.Vocab(tuple(meta["src_vocab"])), data.Vocab(tuple(meta["tgt_vocab"]))
        model = Seq2Seq.recurrent(len(src_vocab), len(tgt_vocab), cell=saved["cell"], embed_size=saved["embed"], hidden_size=saved["hidden"],
                                  attention=saved["attention"], readout_hidden=saved["readout_hidden"] or None)
        params, _ = train.load_params(folder, like=jax.eval_shape(model.init, jax.random.key(0)))
        return model, params, src_vocab, f"trained model {folder}"
    model = seqjax_model(config, config.src_vocab, config.tgt_vocab)
    return model, model.init(jax.random.key(0)), None, f"random weights ({folder} not found)"


def python_greedy(step, prepare, params, source, lengths, max_length):
    state = prepare(params, source, lengths)
    token, done, out = np.full(len(source), GO_ID), np.zeros(len(source), bool), []
    for _ in range(max_length):
        state, logits = step(params, state, jnp.asarray(token))
        token = np.where(done, PAD_ID, np.asarray(logits).argmax(-1))
        out.append(token)
        done |= token == EOS_ID
        if done.all():
            break
    return np.stack(out, 1)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def python_beam(step, prepare, reorder, params, source, lengths, k, max_length, alpha):
    """The algorithm of ``seqjax.decoding.beam``, with NumPy between jitted steps."""
    b = len(source)
    state = decoding.tile_beams(prepare(params, source, lengths), k)
    penalty = lambda n: ((5.0 + n) / 6.0) ** alpha  # noqa: E731
    alive_lp = np.tile(np.array([0.0] + [-np.inf] * (k - 1)), (b, 1))
    alive_seq, fin_seq = np.zeros((b, k, max_length), int), np.zeros((b, k, max_length), int)
    fin_score, rows = np.full((b, k), -np.inf), np.arange(b)[:, None]
    last, done = np.full(b * k, GO_ID), np.zeros(b, bool)
    for i in range(max_length):
        state, logits = step(params, state, jnp.asarray(last))
        logp = _log_softmax(np.asarray(logits, np.float64)).reshape(b, k, -1)
        vocab = logp.shape[-1]
        total = (alive_lp[:, :, None] + logp).reshape(b, -1)
        index = np.argsort(-total, axis=1, kind="stable")[:, : 2 * k]
        cand, source_beam, token = np.take_along_axis(total, index, 1), index // vocab, index % vocab
        seqs = alive_seq[rows, source_beam]
        seqs[:, :, i] = token
        finishing = (token == EOS_ID) & (np.arange(2 * k) < k)
        scores = np.concatenate([fin_score, np.where(finishing, cand / penalty(i + 1), -np.inf)], 1)
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        fin_seq, fin_score = np.concatenate([fin_seq, seqs], 1)[rows, best], np.take_along_axis(scores, best, 1)
        live = np.where(token == EOS_ID, -np.inf, cand)
        keep = np.argsort(-live, axis=1, kind="stable")[:, :k]
        alive_lp, alive_seq = np.take_along_axis(live, keep, 1), seqs[rows, keep]
        state = reorder(state, jnp.asarray(np.take_along_axis(source_beam, keep, 1)))
        last = alive_seq[:, :, i].reshape(-1)
        done |= fin_score[:, -1] >= alive_lp[:, 0] / penalty(i + 1)  # early_stopping="heuristic", the default, per sentence
        alive_lp[done] = -np.inf  # a sentence that is done no longer changes
        if np.all(done):
            break
    scores = np.concatenate([fin_score, alive_lp / penalty(i + 1)], 1)
    best = np.argmax(scores, 1)
    return np.concatenate([fin_seq, alive_seq], 1)[np.arange(b), best]


def decode_rows(config: Config) -> tuple[list[dict], dict]:
    model, params, src_vocab, description = load_decoding_model(config)
    test = data.datasets.multi30k("test_2016_flickr", config.data or None)[: config.sentences or None]
    vocab = src_vocab or data.Vocab(tuple(data.vocab.SPECIALS) + tuple(str(i) for i in range(config.src_vocab - 4)))
    sources = [vocab.encode(data.word_tokenize(s, lower=False)) for s, _ in test]
    batches = list(pairs.source_batches(sources, config.batch, buckets=(16, 32, 48, 64)))
    params = {**params, "decoder": model.decoder.prepare_loop(params["decoder"])}
    step, prepare = jax.jit(model.step), jax.jit(model.prepare)
    reorder = jax.jit(decoding.reorder_beams)
    k, L = config.beam_width, config.max_length

    def compiled(method):
        return lambda: [model.generate(params, s, n, max_length=L, method=method, beam_width=k, length_penalty=0.6).tokens
                        for _, s, n in batches]

    runs = {"greedy, seqjax.decoding": compiled("greedy"), f"beam {k}, seqjax.decoding": compiled("beam"),
            "greedy, Python loop of a jitted step": lambda: [python_greedy(step, prepare, params, s, n, L) for _, s, n in batches],
            f"beam {k}, Python loop of a jitted step": lambda: [python_beam(step, prepare, reorder, params, s, n, k, L, 0.6)
                                                               for _, s, n in batches]}
    outputs = {name: run() for name, run in runs.items()}  # compiles, and the answers to compare
    strip = lambda rows: [pairs.strip_specials(r) for r in rows]  # noqa: E731
    same_greedy = np.mean([a == b for x, y in zip(outputs["greedy, seqjax.decoding"], outputs["greedy, Python loop of a jitted step"])
                           for a, b in zip(strip(np.asarray(x)), strip(y))])
    same_beam = np.mean([a == b for x, y in zip(outputs[f"beam {k}, seqjax.decoding"], outputs[f"beam {k}, Python loop of a jitted step"])
                         for a, b in zip(strip(np.asarray(x)[:, 0]), strip(y))])
    timings = interleaved_medians({name: (lambda run=run: block_all(run())) for name, run in runs.items()},
                                  reps=config.reps, warmup=0, budget_s=config.budget_s)
    # the bound: one step at k rows per sentence against one at a row per sentence (every search runs
    # about as many steps; a beam step must compute all k rows of every sentence)
    _, source, lengths = batches[0]
    state = prepare(params, source, lengths)
    tokens = jnp.full((len(source),), GO_ID, jnp.int32)
    wide_state, wide_tokens = decoding.tile_beams(state, k), decoding.tile_beams(tokens, k)
    steps = interleaved_medians({"one": lambda: step(params, state, tokens), "k": lambda: step(params, wide_state, wide_tokens)},
                                reps=20, warmup=2)
    step_ratio = steps["k"][0] / steps["one"][0]
    greedy_ms = 1e3 * timings["greedy, seqjax.decoding"][0]
    rows = [{"part": "decode", "contender": name, "ms": 1e3 * seconds, "sentences_per_s": len(sources) / seconds,
             "vs_greedy": 1e3 * seconds / greedy_ms} for name, (seconds, _) in timings.items()]
    rows[1]["bound_vs_greedy"] = step_ratio
    rows[2]["same_translations"], rows[3]["same_translations"] = float(same_greedy), float(same_beam)
    for row in rows:
        row["model"] = description
    for row in rows:
        print(row, flush=True)
    extra = {"model": description, "sentences": len(sources), "same_greedy_translations": float(same_greedy),
             "same_beam_translations": float(same_beam),
             "beam_vs_greedy": rows[1]["ms"] / rows[0]["ms"], "step_rows_k_vs_1": step_ratio,
             "python_beam_vs_compiled_beam": rows[3]["ms"] / rows[1]["ms"],
             "python_greedy_vs_compiled_greedy": rows[2]["ms"] / rows[0]["ms"]}
    print(extra)
    return rows, extra


def block_all(outputs):
    return [jax.block_until_ready(o) for o in outputs]


def main(config: Config) -> list[dict]:
    rows, extra = [], {}
    if "train" in config.parts:
        rows += train_rows(config)
    if "decode" in config.parts:
        decoded, extra = decode_rows(config)
        rows += decoded
    return finish(config, rows, table(rows), **extra)


def table(rows: list[dict]) -> str:
    train_part = [r for r in rows if r["part"] == "train step"]
    decode_part = [r for r in rows if r["part"] == "decode"]
    out = []
    if train_part:
        out.append(format_table(train_part, [("length", "source = target length", ""), ("seqjax_ms", "seqjax ms", ".0f"),
                                             ("torch_ms", "PyTorch ms", ".0f"), ("vs_torch", "vs torch", ".2f"),
                                             ("target_tokens_per_s", "target tokens/s", ",.0f")]))
    if decode_part:
        out.append(format_table(decode_part, [("contender", "decoding", ""), ("ms", "ms, whole test set", ".0f"),
                                              ("sentences_per_s", "sentences/s", ",.0f"), ("vs_greedy", "time / compiled greedy", ".2f"),
                                              ("bound_vs_greedy", "bound: a step at 5 rows / at 1", ".2f"),
                                              ("same_translations", "same translations as compiled", ".3f")]))
        if "model" in decode_part[0]:
            out.append(f"Decoded with the {decode_part[0]['model']}.")
    return "\n\n".join(out)


if __name__ == "__main__":
    run_main(main, Config(), __doc__)

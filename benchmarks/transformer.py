"""The encoder–decoder Transformer: a training step against Flax and PyTorch, KV-cached decoding against recomputation.

    python -m benchmarks.transformer                              # both parts (the issue's shapes)
    python -m benchmarks.transformer --parts=train --reps=5

**Training step** (forward, backward, Adam; no dropout): d_model 256, 3 encoder + 3 decoder
layers, 8 heads, feed-forward 512, post-norm (the paper's), sinusoidal positions, embeddings
scaled by √d_model, an untied readout over vocabularies of Multi30k's sizes, batch 64, source
and target lengths between ``--length``/2 and ``--length`` padded to ``--length``. Contenders:

  * seqjax: ``seqjax.models.Transformer.loss`` under ``seqjax.train.make_train_step``;
  * flax: the same architecture in Flax linen with its own modules (``nn.MultiHeadDotProductAttention``,
    ``nn.LayerNorm``, ``nn.Dense``, ``nn.Embed``), ``optax.adam``, one ``jax.jit``;
  * torch: ``nn.Transformer`` (its final norms removed: post-norm layers as the paper) with
    embeddings, positions and a ``nn.Linear`` readout, as PyTorch's translation tutorial writes it;
    its weights are converted to seqjax's (``from_torch``) and both losses are checked equal at
    start-up before anything is timed;
  * floor: a bound, not a peer: XLA running only the step's matmuls (every projection, the
    attention products and the readout, forward and both backward products of each) on arrays
    of the same shapes. ``vs floor`` is the floor's time over seqjax's.

``vs flax`` and ``vs torch`` are the peer's median time over seqjax's (above 1: seqjax is faster).

**Decoding**: greedy generation of ``--generate`` tokens (no EOS) for a batch of sources, with
the KV cache (``model.step`` under ``seqjax.decoding.greedy``: one compiled loop) and by
recomputing the whole prefix at every step (the decoder re-run over tokens ``0..i`` for token
``i + 1``, each length compiled once beforehand, as a model without a cache must do).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.common import finish, format_table, interleaved_medians, run_main, torch_device, torch_train_step, warm_up
from seqjax import decoding, train
from seqjax.data import pairs
from seqjax.data.vocab import GO_ID, PAD_ID
from seqjax.interop.torch import from_torch
from seqjax.models import Transformer
from seqjax.layers.positional import sinusoidal_table


@dataclasses.dataclass(frozen=True)
class Config:
    parts: tuple[str, ...] = ("train", "decode")
    peers: tuple[str, ...] = ("flax", "torch", "floor")
    d_model: int = 256
    heads: int = 8
    layers: int = 3
    d_ff: int = 512
    batch: int = 64
    length: int = 32               # sources and targets of length/2 .. length, padded to length
    src_vocab: int = 8050
    tgt_vocab: int = 6247
    generate: int = 100            # tokens generated per sentence in the decoding part
    decode_batch: int = 16
    reps: int = 5
    budget_s: float = 30.0
    out: str = "benchmarks/results/transformer.json"


def seqjax_model(config: Config) -> Transformer:
    return Transformer(config.src_vocab, config.tgt_vocab, d_model=config.d_model, num_heads=config.heads,
                       encoder_layers=config.layers, decoder_layers=config.layers, d_ff=config.d_ff, dropout=0.0,
                       tie_output=False, max_length=max(config.length, config.generate + 1))


def timed_batch(config: Config, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n = config.length
    examples = [(list(rng.integers(4, config.src_vocab, rng.integers(n // 2, n + 1))),
                 list(rng.integers(4, config.tgt_vocab, rng.integers(n // 2, n)))) for _ in range(config.batch)]
    return pairs.collate_pairs(examples, (n,))


# -----------------------------------------------------------------------------
# the PyTorch peer (the translation tutorial's Seq2SeqTransformer) and its weights in seqjax's tree


def torch_model(config: Config):
    import torch
    from torch import nn

    class Seq2SeqTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            d = config.d_model
            self.src_embed = nn.Embedding(config.src_vocab, d, padding_idx=PAD_ID)
            self.tgt_embed = nn.Embedding(config.tgt_vocab, d, padding_idx=PAD_ID)
            self.register_buffer("pe", torch.from_numpy(sinusoidal_table(max(config.length, config.generate + 1), d)))
            self.transformer = nn.Transformer(d, config.heads, config.layers, config.layers, config.d_ff, dropout=0.0,
                                              batch_first=True)
            self.transformer.encoder.norm = self.transformer.decoder.norm = None  # the paper's post-norm stacks
            self.generator = nn.Linear(d, config.tgt_vocab)

        def embed(self, table, ids):
            return table(ids) * math.sqrt(config.d_model) + self.pe[: ids.shape[1]]

        def forward(self, source, source_lengths, target_inputs, target_outputs):
            t = target_inputs.shape[1]
            pad = torch.arange(source.shape[1], device=source.device)[None] >= source_lengths[:, None]
            causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=source.device), diagonal=1)
            ys = self.transformer(self.embed(self.src_embed, source), self.embed(self.tgt_embed, target_inputs), tgt_mask=causal,
                                  src_key_padding_mask=pad, memory_key_padding_mask=pad, tgt_is_causal=True)
            logits = self.generator(ys)
            return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_outputs.reshape(-1), ignore_index=PAD_ID)

    torch.manual_seed(0)
    return Seq2SeqTransformer()


def params_from_torch(module) -> dict:
    return {"src_embed": from_torch(module.src_embed)[1], "tgt_embed": from_torch(module.tgt_embed)[1],
            "src_positions": {}, "tgt_positions": {}, "encoder": from_torch(module.transformer.encoder)[1],
            "decoder": from_torch(module.transformer.decoder)[1], "readout": from_torch(module.generator)[1]}


# -----------------------------------------------------------------------------
# the Flax peer: the same architecture from linen's own modules


def flax_model(config: Config):
    import flax.linen as nn

    d, table = config.d_model, jnp.asarray(sinusoidal_table(max(config.length, config.generate + 1), config.d_model))

    class Block(nn.Module):
        cross: bool

        @nn.compact
        def __call__(self, x, self_mask, memory=None, memory_mask=None):
            attention = lambda: nn.MultiHeadDotProductAttention(config.heads, qkv_features=d, deterministic=True)  # noqa: E731
            x = nn.LayerNorm(epsilon=1e-5)(x + attention()(x, x, mask=self_mask))
            if self.cross:
                x = nn.LayerNorm(epsilon=1e-5)(x + attention()(x, memory, mask=memory_mask))
            h = nn.Dense(d)(nn.relu(nn.Dense(config.d_ff)(x)))
            return nn.LayerNorm(epsilon=1e-5)(x + h)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, source, source_lengths, target_inputs):
            s, t = source.shape[1], target_inputs.shape[1]
            real = jnp.arange(s)[None] < source_lengths[:, None]
            x = nn.Embed(config.src_vocab, d)(source) * math.sqrt(d) + table[:s]
            for _ in range(config.layers):
                x = Block(False)(x, real[:, None, None, :])
            y = nn.Embed(config.tgt_vocab, d)(target_inputs) * math.sqrt(d) + table[:t]
            causal = nn.make_causal_mask(target_inputs)
            for _ in range(config.layers):
                y = Block(True)(y, causal, x, real[:, None, None, :])
            return nn.Dense(config.tgt_vocab)(y)

    return Model()


def flax_step(config: Config, batch: dict):
    model = flax_model(config)
    params = model.init(jax.random.key(0), batch["source"], batch["source_lengths"], batch["target_inputs"])
    opt = optax.adam(1e-3)

    def loss_fn(params):
        logits = model.apply(params, batch["source"], batch["source_lengths"], batch["target_inputs"])
        mask = jnp.arange(logits.shape[1])[None] < batch["target_lengths"][:, None]
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch["target_outputs"])
        return jnp.sum(jnp.where(mask, nll, 0.0)) / jnp.sum(mask)

    @jax.jit
    def step(params, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    state = (params, opt.init(params))
    return lambda: step(*state)[2]


# -----------------------------------------------------------------------------
# the floor: the step's matmuls alone


def floor_step(config: Config):
    """Forward ``x @ w`` and backward ``g @ wᵀ``, ``xᵀ @ g`` for every dense layer, and the attention's
    four batched products (scores and mixing, forward) with their four backward products."""
    b, n, d, f, h = config.batch, config.length, config.d_model, config.d_ff, config.heads
    rows = b * n
    dense = []  # (in, out) of every dense layer
    dense += [(d, 3 * d), (d, d), (d, f), (f, d)] * config.layers                                     # encoder
    dense += [(d, 3 * d), (d, d), (d, d), (d, 2 * d), (d, d), (d, f), (f, d)] * config.layers         # decoder
    dense += [(d, config.tgt_vocab)]                                                                    # readout
    attentions = 2 * config.layers + config.layers  # self-attention in both stacks, cross-attention in the decoder
    keys = jax.random.split(jax.random.key(0), 4)
    xs = {i: jax.random.normal(keys[0], (rows, i)) for i in {i for i, _ in dense}}
    gs = {o: jax.random.normal(keys[1], (rows, o)) for o in {o for _, o in dense}}
    ws = [jax.random.normal(keys[2], (i, o)) for i, o in dense]
    q = jax.random.normal(keys[3], (b, h, n, d // h))

    @jax.jit
    def run(xs, gs, ws, q):
        out = []
        for (i, o), w in zip(dense, ws):
            out += [xs[i] @ w, gs[o] @ w.T, xs[i].T @ gs[o]]
        for _ in range(attentions):
            s = jnp.einsum("bhqd,bhkd->bhqk", q, q)
            out += [s, jnp.einsum("bhqk,bhkd->bhqd", s, q), jnp.einsum("bhqk,bhkd->bhqd", s, q), jnp.einsum("bhqk,bhqd->bhkd", s, q)]
        return out

    return lambda: run(xs, gs, ws, q)


def train_rows(config: Config) -> list[dict]:
    model = seqjax_model(config)
    batch = timed_batch(config)
    optimizer = optax.adam(1e-3)
    step = train.make_train_step(model.loss, optimizer)
    runs, checked = {}, None
    params = model.init(jax.random.key(0))
    if "torch" in config.peers:
        import torch

        device, sync = torch_device()
        peer = torch_model(config).to(device)
        params = params_from_torch(peer)
        tensors = [torch.from_numpy(batch[k]).long().to(device) for k in ("source", "source_lengths", "target_inputs", "target_outputs")]
        with torch.no_grad():
            want = float(peer.eval()(*tensors))
        checked = float(model.loss(params, batch)[0])
        if not np.isclose(checked, want, rtol=1e-4):
            raise AssertionError(f"transformer benchmark: seqjax's loss {checked} differs from PyTorch's {want} with the same weights")
        peer.train()
        torch_step = torch_train_step(peer, torch.optim.Adam(peer.parameters(), lr=1e-3), tensors, sync)

    state = train.TrainState.create(params, optimizer, jax.random.key(0))
    runs["seqjax"] = lambda: step(state, batch)[1]["loss"]
    if "flax" in config.peers:
        runs["flax"] = flax_step(config, batch)
    if "torch" in config.peers:
        runs["torch"] = torch_step
    if "floor" in config.peers:
        runs["floor"] = floor_step(config)
    warm_up(list(runs.values()), threads=1)
    timings = interleaved_medians(runs, reps=config.reps, budget_s=config.budget_s)
    tokens = int(batch["target_lengths"].sum() + batch["source_lengths"].sum())
    row = {"part": "train step", "shape": f"b{config.batch} len{config.length} d{config.d_model} L{config.layers}+{config.layers}",
           "loss_checked": checked, "tokens_per_s": tokens / timings["seqjax"][0]}
    for name, (seconds, _) in timings.items():
        row[f"{name}_ms"] = 1e3 * seconds
        if name != "seqjax":
            row[f"vs_{name}"] = seconds / timings["seqjax"][0]
    print(row, flush=True)
    return [row]


# -----------------------------------------------------------------------------
# decoding: the KV cache against recomputing the prefix


def decode_rows(config: Config) -> list[dict]:
    model = seqjax_model(config)
    params = model.init(jax.random.key(0))
    batch = timed_batch(dataclasses.replace(config, batch=config.decode_batch))
    source, lengths, n = jnp.asarray(batch["source"]), jnp.asarray(batch["source_lengths"]), config.generate
    start = jnp.full((config.decode_batch,), GO_ID, jnp.int32)

    prepare = jax.jit(lambda params: model.prepare(params, source, lengths, max_length=n))

    def cached():
        return decoding.greedy(model.step, params, prepare(params), start, max_length=n).tokens

    encode = jax.jit(lambda params: model.encode(params, source, lengths))

    @jax.jit
    def next_token(params, memory, mask, prefix):  # one compilation per prefix length
        y = model._embed(model.tgt_embed, params["tgt_embed"], params["tgt_positions"], prefix, jnp.arange(prefix.shape[1]))
        return jnp.argmax(model.readout(params, model.decoder(params["decoder"], y, memory, memory_mask=mask)[:, -1]), -1)

    def recompute():
        memory, mask = encode(params)
        prefix = start[:, None]
        for _ in range(n):
            prefix = jnp.concatenate([prefix, next_token(params, memory, mask, prefix)[:, None].astype(jnp.int32)], axis=1)
        return prefix[:, 1:]

    np.testing.assert_array_equal(cached(), recompute())  # the same tokens both ways
    timings = interleaved_medians({"kv_cache": cached, "recompute": recompute}, reps=config.reps, budget_s=config.budget_s)
    row = {"part": f"decode {n} tokens", "shape": f"b{config.decode_batch}", "kv_cache_ms": 1e3 * timings["kv_cache"][0],
           "recompute_ms": 1e3 * timings["recompute"][0]}
    row["recompute_vs_cache"] = row["recompute_ms"] / row["kv_cache_ms"]
    print(row, flush=True)
    return [row]


def table(rows: list[dict]) -> str:
    columns = [("part", "part", ""), ("shape", "shape", ""), ("seqjax_ms", "seqjax ms", ".1f"), ("flax_ms", "flax ms", ".1f"),
               ("torch_ms", "torch ms", ".1f"), ("floor_ms", "floor ms", ".1f"), ("vs_flax", "vs flax", ".2f"),
               ("vs_torch", "vs torch", ".2f"), ("vs_floor", "vs floor", ".2f"), ("kv_cache_ms", "KV cache ms", ".1f"),
               ("recompute_ms", "recompute ms", ".1f"), ("recompute_vs_cache", "recompute / cache", ".1f")]
    return format_table(rows, columns)


def main(config: Config) -> list[dict]:
    unknown = set(config.parts) - {"train", "decode"}
    if unknown:
        raise SystemExit(f"error: --parts must be among train, decode; got {sorted(unknown)}")
    rows = (train_rows(config) if "train" in config.parts else []) + (decode_rows(config) if "decode" in config.parts else [])
    return finish(config, rows, table(rows))


if __name__ == "__main__":
    run_main(main, Config(), __doc__)

"""A GPT-2 checkpoint in seqjax: load a Hugging Face folder, sample and beam-search with the library's
decoding, show each token's log-probability and one layer's attention as a heat map.

    python -m experiments.gpt2_demo --checkpoint=path/to/gpt2 --prompt="The meaning of life is"
    python -m experiments.gpt2_demo          # no checkpoint on this machine: a small random GPT-2, and it says so

A checkpoint folder is what ``save_pretrained`` writes (``config.json``, ``model.safetensors`` or
``pytorch_model.bin``) with its ``tokenizer.json``; ``seqjax.interop.gpt2.load`` reads the model
(every config field converted or refused by name) and ``seqjax.data.SubwordVocab`` the tokenizer.
Without ``--checkpoint`` the demo trains a 400-token byte-level BPE on a paragraph of its own and
builds a 2-layer GPT-2 of random weights with ``transformers`` (the ``hf`` extra): every stage runs,
the text it writes is noise. It writes ``--out_dir``: ``attention.png`` (``--layer``'s weights,
averaged over heads, over the beam-search text) and ``results.json``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from seqjax.core import plots
from seqjax.data.subword import SubwordVocab
from seqjax.interop import gpt2


@dataclasses.dataclass(frozen=True)
class Config:
    checkpoint: str = ""             # a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json); "": a random one
    prompt: str = "The little dog"
    max_length: int = 24             # tokens generated after the prompt
    temperature: float = 0.8
    top_k: int = 40                  # sampling: among the k most likely tokens (0: all)
    top_p: float = 0.95              # sampling: from the smallest set whose probability reaches top_p
    beam_width: int = 4
    layer: int = -1                  # whose attention is drawn (-1: the last)
    seed: int = 0
    out_dir: str = "runs/gpt2_demo"


PARAGRAPH = ("The little dog ran across the green field. The old man watched the dog and smiled. "
             "A girl in a red coat threw a ball, and the dog ran after the ball. ") * 20


def random_checkpoint(folder: pathlib.Path, seed: int) -> pathlib.Path:
    """A 2-layer GPT-2 with random weights and a BPE tokenizer, written as ``save_pretrained`` writes one."""
    import torch
    import transformers

    vocab = SubwordVocab.train([PARAGRAPH], kind="bpe", vocab_size=400, min_frequency=1)
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=len(vocab), n_embd=64, n_layer=2, n_head=4, n_positions=128,
                                     bos_token_id=vocab.id("<GO>"), eos_token_id=vocab.id("<EOS>"))
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    vocab.tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def token_log_probs(model, params, ids: list[int], start: int) -> list[float]:
    """log p(token t | tokens before t) for every token from ``start`` on, from one pass of ``logits``."""
    logits = model.logits(params, jnp.asarray([ids]))[0]
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return [float(log_probs[t - 1, ids[t]]) for t in range(start, len(ids))]


def main(config: Config) -> dict:
    out = pathlib.Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folder = pathlib.Path(config.checkpoint) if config.checkpoint else None
    if folder is None:
        folder = random_checkpoint(out / "random_gpt2", config.seed)
        print(f"no --checkpoint given: built a random-initialised 2-layer GPT-2 with transformers in {folder} "
              "(a BPE of 400 tokens learnt on a paragraph of this file); every stage runs, but its text is noise")
    model, params = gpt2.load(folder)
    if not (folder / "tokenizer.json").exists():
        raise SystemExit(f"error: {folder} has no tokenizer.json: the demo reads and writes text with the checkpoint's tokenizer")
    vocab = SubwordVocab.load(folder / "tokenizer.json")
    eos = json.loads((folder / "config.json").read_text()).get("eos_token_id")
    prompt = vocab.encode(config.prompt)
    if not prompt:
        raise SystemExit("error: --prompt has no token")
    print(f"{model}\nprompt: {config.prompt!r} = {len(prompt)} tokens")

    ids = jnp.asarray([prompt])
    sampled = model.generate(params, ids, method="sample", key=jax.random.key(config.seed), max_length=config.max_length,
                             temperature=config.temperature, top_k=config.top_k or None, top_p=config.top_p, eos_id=eos)
    # transformers' generate(num_beams=4, length_penalty=1.0, early_stopping=True), token for token (tests/test_gpt2.py)
    beam = model.generate(params, ids, method="beam", beam_width=config.beam_width, length_penalty=1.0, length_norm="power",
                          early_stopping="finished", max_length=config.max_length, eos_id=eos).best
    results = {"checkpoint": str(folder), "random": not config.checkpoint}
    for name, decoded in (("sample", sampled), ("beam", beam)):
        continuation = np.asarray(decoded.tokens[0, : int(decoded.lengths[0])]).tolist()
        text = vocab.decode(prompt + continuation)
        log_probs = token_log_probs(model, params, prompt + continuation, len(prompt))
        results[name] = {"text": text, "tokens": [vocab.decode([i], strip_specials=False) for i in continuation], "log_probs": log_probs,
                         "sum_log_prob": float(np.sum(log_probs))}
        print(f"\n{name}: {text!r}  (sum log-probability {np.sum(log_probs):.2f})")
        print("  " + "  ".join(f"{t!r} {lp:.2f}" for t, lp in zip(results[name]["tokens"], log_probs)))
    # beam search's score is the sum of the log-probabilities: the same numbers from one pass of logits
    beam_ids = prompt + np.asarray(beam.tokens[0, : int(beam.lengths[0])]).tolist()
    results["beam"]["score_from_search"] = float(beam.log_probs[0])
    weights = np.asarray(model.attention_weights(params, jnp.asarray([beam_ids]), config.layer)[0]).mean(axis=0)
    labels = [vocab.decode([i], strip_specials=False) for i in beam_ids]
    path = plots.attention_heatmap(weights, labels, labels, out / "attention.png",
                                   title=f"layer {config.layer % model.num_layers}, mean over {model.num_heads} heads")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nwrote {path} and {out / 'results.json'}")
    return results


if __name__ == "__main__":
    from seqjax.train.config import run_main

    run_main(main, Config(), __doc__)

"""GPT-2 checkpoints in Hugging Face's folder format (``seqjax.interop.gpt2``), against
``transformers.GPT2LMHeadModel`` built from random-initialised configs and saved with
``save_pretrained``: logits and loss with padding, greedy generation through the KV cache, the way
back (``save`` then ``from_pretrained``), bfloat16 params, and every bad folder named."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seqjax.interop import gpt2
from seqjax.models import TransformerLM
from seqjax.train.checkpoint import CheckpointError



class _Lazy:
    """torch and transformers, imported by the first test that uses them (not when the fast tier collects this file)."""

    def __init__(self, name):
        self.name = name

    def __getattr__(self, attribute):
        module = pytest.importorskip(self.name, reason=f"the 'hf' extra and the test extras ({self.name}) are not installed")
        return getattr(module, attribute)


torch, transformers = _Lazy("torch"), _Lazy("transformers")

CONFIGS = {  # vocabularies that are not multiples of 8; 1 to 4 layers, 1 to 8 heads; every activation GPT-2 configs use
    "2 layers, 4 heads": dict(vocab_size=101, n_embd=32, n_head=4, n_layer=2, n_positions=64),
    "1 layer, 1 head, n_inner, eps": dict(vocab_size=53, n_embd=24, n_head=1, n_layer=1, n_positions=32, n_inner=40, layer_norm_epsilon=1e-6),
    "4 layers, 8 heads, exact gelu": dict(vocab_size=77, n_embd=64, n_head=8, n_layer=4, n_positions=48, activation_function="gelu"),
}


def hf_model(folder, seed=0, **config):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(**{"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "bos_token_id": 1, "eos_token_id": 2,
                                        **config})
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder)
    return model


def padded_prompts(vocab_size, lengths=(9, 5, 2), pad=0):
    rng = np.random.default_rng(1)
    ids = np.full((len(lengths), max(lengths)), pad, np.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(3, vocab_size, n)
    return ids, np.asarray(lengths), (np.arange(ids.shape[1]) < np.asarray(lengths)[:, None])


@pytest.mark.slow  # 3-9 s each on 2 cores, transformers' import included
@pytest.mark.parametrize("name", list(CONFIGS))
def test_logits_and_loss_equal_transformers_with_padding(name, tmp_path):
    hf = hf_model(tmp_path / "m", **CONFIGS[name])
    model, params = gpt2.load(tmp_path / "m")
    assert (model.num_layers, model.num_heads, model.vocab_size) == (CONFIGS[name]["n_layer"], CONFIGS[name]["n_head"], CONFIGS[name]["vocab_size"])
    ids, lengths, mask = padded_prompts(model.vocab_size)
    with torch.no_grad():
        want = hf(torch.tensor(ids), attention_mask=torch.tensor(mask.astype(np.int64))).logits.numpy()
        labels = torch.tensor(np.where(mask, ids, -100))
        want_loss = float(hf(torch.tensor(ids), attention_mask=torch.tensor(mask.astype(np.int64)), labels=labels).loss)
    got = np.asarray(model.logits(params, jnp.asarray(ids)))
    assert np.abs(got - want)[mask].max() < 1e-4  # every real position (right padding: the causal mask keeps pads out)
    loss, _ = model.loss(params, {"ids": jnp.asarray(ids[:, :-1]), "targets": jnp.asarray(ids[:, 1:]), "lengths": jnp.asarray(lengths - 1)})
    assert float(loss) == pytest.approx(want_loss, rel=1e-5)


@pytest.mark.slow  # 6-9 s on 2 cores, transformers' import included
def test_greedy_generation_of_40_tokens_is_token_identical_with_an_eos_and_padding(tmp_path):
    hf = hf_model(tmp_path / "m", **CONFIGS["2 layers, 4 heads"])
    model, params = gpt2.load(tmp_path / "m")
    prompt = np.random.default_rng(2).integers(3, model.vocab_size, (3, 6))
    free = np.asarray(model.generate(params, jnp.asarray(prompt), max_length=40).tokens)
    eos = int(free[0, 11])  # a token the first row emits after 11 others: it ends there (and maybe the others elsewhere)
    with torch.no_grad():
        hf_out = hf.generate(torch.tensor(prompt), attention_mask=torch.ones(prompt.shape, dtype=torch.long), do_sample=False,
                             max_new_tokens=40, eos_token_id=eos, pad_token_id=0)[:, prompt.shape[1]:].numpy()
    ours = np.asarray(model.generate(params, jnp.asarray(prompt), max_length=40, method="greedy", eos_id=eos).tokens)
    assert hf_out.shape[1] <= 40 and (ours[:, : hf_out.shape[1]] == hf_out).all() and (ours[:, hf_out.shape[1]:] == 0).all()
    for row in range(3):  # each row is the free run up to its first EOS, which ends it; then padding
        end = int(np.argmax(free[row] == eos)) if (free[row] == eos).any() else 40
        np.testing.assert_array_equal(ours[row, : end + 1], free[row, : end + 1])
        assert (ours[row, end + 1:] == 0).all()
    assert (ours[0] == eos).sum() == 1 and (ours[0] == 0).any()  # row 0 did end at its EOS, and was padded after it


def left_padded(right, lengths):
    """Hugging Face's way of batching the same prompts: moved to the right end of the row, with a mask."""
    left, mask = np.zeros_like(right), np.zeros_like(right)
    for row, n in enumerate(lengths):
        left[row, right.shape[1] - n:], mask[row, right.shape[1] - n:] = right[row, :n], 1
    return torch.tensor(left), torch.tensor(mask)


@pytest.mark.slow  # ~15 s on 2 cores: a greedy and two beam searches, on both sides
@pytest.mark.parametrize("initializer_range", [0.05, 1.0])  # near-uniform next-token distributions, and peaked ones
def test_batched_greedy_and_beam_search_with_prompts_of_different_lengths_equal_generate(initializer_range, tmp_path):
    """Four prompts of 9, 5, 2 and 7 tokens in one batch (seqjax: right-padded with lengths; transformers:
    left-padded with an attention mask). Greedy: 40 tokens through the KV cache, token-identical to
    ``generate(do_sample=False)``. Beam search: ``num_beams=4, length_penalty=1.0, early_stopping=True``
    is ``method="beam", beam_width=4, length_penalty=1.0, length_norm="power", early_stopping="finished"``
    (the rule in ``seqjax.decoding.beam``'s doc): the same hypotheses and scores for 8 and 30 tokens."""
    hf = hf_model(tmp_path / "m", **CONFIGS["2 layers, 4 heads"], initializer_range=initializer_range)
    model, params = gpt2.load(tmp_path / "m")
    lengths = np.array([9, 5, 2, 7])
    right = padded_prompts(model.vocab_size, lengths)[0]
    left, mask = left_padded(right, lengths)
    free = np.asarray(model.generate(params, jnp.asarray(right), lengths, max_length=40).tokens)
    tokens, counts = np.unique(free, return_counts=True)
    eos = int(tokens[np.argsort(-counts)][1])  # the second most frequent token: some rows end with it, early or late
    with torch.no_grad():
        want = hf.generate(left, attention_mask=mask, do_sample=False, max_new_tokens=40, eos_token_id=eos, pad_token_id=0)
    want = want[:, right.shape[1]:].numpy()
    ours = np.asarray(model.generate(params, jnp.asarray(right), lengths, max_length=40, eos_id=eos).tokens)
    np.testing.assert_array_equal(ours[:, : want.shape[1]], want)
    assert (ours == eos).any() and (ours[:, want.shape[1]:] == 0).all()
    ended = 0
    for new_tokens in (8, 30):
        with torch.no_grad():  # pad_token_id 5: transformers fills a finished row with it (with 0 it uses the EOS)
            out = hf.generate(left, attention_mask=mask, do_sample=False, num_beams=4, length_penalty=1.0, early_stopping=True,
                              max_new_tokens=new_tokens, eos_token_id=eos, pad_token_id=5, return_dict_in_generate=True, output_scores=True)
        want, want_scores = out.sequences[:, right.shape[1]:].numpy(), out.sequences_scores.numpy()
        best = model.generate(params, jnp.asarray(right), lengths, max_length=new_tokens, method="beam", beam_width=4, length_penalty=1.0,
                              length_norm="power", early_stopping="finished", eos_id=eos).best
        n = np.asarray(best.lengths)
        assert want.shape[1] == n.max(), new_tokens
        for row in range(4):
            np.testing.assert_array_equal(np.asarray(best.tokens[row, : n[row]]), want[row, : n[row]], err_msg=f"{new_tokens} {row}")
            assert (want[row, n[row]:] == 5).all()
        np.testing.assert_allclose(np.asarray(best.scores), want_scores, atol=1e-5)
        ended += int((np.asarray(best.tokens) == eos).sum())
    assert ended > 0  # some hypotheses did end with the EOS: the rule for finished ones was exercised


SAMPLING = [dict(temperature=1.0, top_k=5), dict(temperature=0.7, top_p=0.9), dict(temperature=1.3, top_k=20, top_p=0.8)]


@pytest.mark.slow  # ~10 s on 2 cores
def test_sampling_draws_from_the_filtered_distribution_of_transformers(tmp_path):
    """Along 12 tokens that seqjax samples (through the KV cache, prompts of different lengths), every
    step's distribution after temperature, top-k and top-p (``seqjax.decoding.filter_logits``) equals what
    transformers' warpers leave (applied in ``generate``'s order: temperature, top-k, top-p): the same
    tokens kept, the same probabilities; and each sampled token is one of those kept."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper
    from seqjax import decoding

    hf = hf_model(tmp_path / "m", **CONFIGS["2 layers, 4 heads"], initializer_range=0.3)
    model, params = gpt2.load(tmp_path / "m")
    lengths = np.array([9, 5, 2])
    right = padded_prompts(model.vocab_size, lengths)[0]
    step_fn = jax.jit(model.step)
    for i, options in enumerate(SAMPLING):
        warpers = [TemperatureLogitsWarper(options["temperature"])] + (
            [TopKLogitsWarper(options["top_k"])] if "top_k" in options else []) + (
            [TopPLogitsWarper(options["top_p"])] if "top_p" in options else [])
        drawn = np.asarray(model.generate(params, jnp.asarray(right), lengths, max_length=12, method="sample",
                                          key=jax.random.key(i), **options).tokens)
        start = model.decode_start(params, jnp.asarray(right), lengths, max_length=12)
        state, token = start.state, start.tokens
        filtered = jax.jit(lambda logits: jax.nn.softmax(decoding.filter_logits(logits, **options), axis=-1))  # noqa: B023
        for step in range(12):
            state, logits = step_fn(start.params, state, token)
            ours = np.asarray(filtered(logits))
            rows = [np.concatenate([right[r, : lengths[r]], drawn[r, :step]]) for r in range(3)]
            left, mask = left_padded(np.stack([np.pad(x, (0, max(map(len, rows)) - len(x))) for x in rows]), [len(x) for x in rows])
            with torch.no_grad():
                positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate gives a left-padded row (a forward call does not)
                scores = hf(left, attention_mask=mask, position_ids=positions).logits[:, -1]
                for warper in warpers:
                    scores = warper(left, scores)
            theirs = torch.softmax(scores, dim=-1).numpy()
            np.testing.assert_array_equal(ours > 0, theirs > 0, err_msg=f"{options} step {step}")
            np.testing.assert_allclose(ours, theirs, atol=2e-5, err_msg=f"{options} step {step}")
            assert (ours[np.arange(3), drawn[:, step]] > 0).all()
            token = jnp.asarray(drawn[:, step])
        assert 1 < (ours > 0).sum(-1).max() < model.vocab_size  # the filters did cut, and kept more than one token


@pytest.mark.slow  # 6-9 s on 2 cores, transformers' import included
def test_attention_weights_of_every_layer_equal_output_attentions(tmp_path):
    hf_model(tmp_path / "m", **CONFIGS["2 layers, 4 heads"])
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "m", attn_implementation="eager").eval()
    model, params = gpt2.load(tmp_path / "m")
    ids = padded_prompts(model.vocab_size, (8, 8))[0]
    with torch.no_grad():
        want = hf(torch.tensor(ids), output_attentions=True).attentions
    for layer in range(model.num_layers):
        got = np.asarray(model.attention_weights(params, jnp.asarray(ids), layer))
        assert got.shape == (2, 4, 8, 8) and np.abs(got - want[layer].numpy()).max() < 1e-5, layer
    np.testing.assert_array_equal(np.asarray(model.attention_weights(params, jnp.asarray(ids), -1)), got)
    with pytest.raises(ValueError, match=r"layer must lie in \[-2, 2\)"):
        model.attention_weights(params, jnp.asarray(ids), 2)


@pytest.mark.slow  # 6-9 s on 2 cores, transformers' import included
def test_a_seqjax_model_saves_as_a_folder_transformers_loads(tmp_path):
    model = TransformerLM(61, d_model=16, num_heads=2, num_layers=2, context=24, activation="gelu_tanh", eps=1e-5)
    params = model.init(jax.random.key(0))
    gpt2.save(tmp_path / "ours", model, params, eos_token_id=2)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "ours").eval()
    ids = np.random.default_rng(3).integers(0, 61, (2, 11))
    with torch.no_grad():
        want = hf(torch.tensor(ids)).logits.numpy()
    assert np.abs(np.asarray(model.logits(params, jnp.asarray(ids))) - want).max() < 1e-4
    again, again_params = gpt2.load(tmp_path / "ours")  # and back: the same model and params
    assert again == model
    jax.tree_util.tree_map(np.testing.assert_array_equal, again_params, params)
    with pytest.raises(ValueError, match="GPT-2 has no readout bias"):
        gpt2.save(tmp_path / "biased", model, {**params, "readout": {"b": jnp.ones(61)}})


@pytest.mark.slow  # 6-9 s on 2 cores, transformers' import included
def test_bfloat16_params_load_and_run(tmp_path):
    hf = hf_model(tmp_path / "m", **CONFIGS["2 layers, 4 heads"])
    hf.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    model, params = gpt2.load(tmp_path / "bf16")
    assert params["embed"]["table"].dtype == jnp.bfloat16
    _, full = gpt2.load(tmp_path / "m")
    ids = jnp.asarray(padded_prompts(model.vocab_size, (7, 7))[0])
    low, high = np.asarray(model.logits(params, ids), np.float32), np.asarray(model.logits(full, ids))
    assert np.isfinite(low).all() and np.abs(low - high).max() < 0.1 * np.abs(high).max()
    tokens = model.generate(params, ids, max_length=5).tokens
    assert tokens.shape == (2, 5)


@pytest.mark.slow  # ~8 s: builds a transformers model
def test_every_bad_folder_is_an_error_naming_the_file_and_the_field(tmp_path):
    hf_model(tmp_path / "m", **CONFIGS["2 layers, 4 heads"])
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    weights = (tmp_path / "m" / "model.safetensors").read_bytes()

    def folder(name, config_changes=None, weights_bytes=weights, drop_config=False):
        path = tmp_path / name
        path.mkdir()
        if not drop_config:
            (path / "config.json").write_text(json.dumps({**config, **(config_changes or {})}))
        if weights_bytes is not None:
            (path / "model.safetensors").write_bytes(weights_bytes)
        return path

    cases = [
        (folder("no_config", drop_config=True), "holds no config.json"),
        (folder("bert", {"model_type": "bert"}), r"config.json: model_type is 'bert'; only 'gpt2'"),
        (folder("unscaled", {"scale_attn_weights": False}), r"config.json: scale_attn_weights=False changes the computation"),
        (folder("by_layer", {"scale_attn_by_inverse_layer_idx": True}), "scale_attn_by_inverse_layer_idx=True"),
        (folder("quick", {"activation_function": "quick_gelu"}), "activation_function='quick_gelu' is not one"),
        (folder("rates", {"resid_pdrop": 0.1, "embd_pdrop": 0.2}), "resid_pdrop=0.1 and embd_pdrop=0.2 differ"),
        (folder("no_weights", weights_bytes=None), "holds neither model.safetensors nor pytorch_model.bin"),
        (folder("truncated", weights_bytes=weights[: len(weights) // 2]), r"model.safetensors is unreadable"),
        (folder("narrow", {"n_embd": 16}), r"model.safetensors: h.0.attn.c_attn.weight is \[32, 96\] but config.json \(n_embd\) makes it \[16, 48\]"),
        (folder("deep", {"n_layer": 3}), r"model.safetensors: the tensor 'h.2.attn.c_attn.weight' is missing \(config.json's n_layer=3 asks for it\)"),
        (folder("shallow", {"n_layer": 1}), r"has more layers than config.json's n_layer=1"),
        (folder("short", {"n_positions": 32}), r"wpe.weight is \[64, 32\] but config.json \(n_positions\) makes it \[32, 32\]"),
    ]
    for path, message in cases:
        with pytest.raises(CheckpointError, match=message):
            gpt2.load(path)


def test_import_seqjax_imports_no_hugging_face_package():
    code = "import sys, seqjax, seqjax.interop; print(sorted(m for m in ('transformers', 'safetensors', 'tokenizers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]

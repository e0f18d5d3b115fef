"""GPT-2 checkpoints in Hugging Face's folder format (``seqjax.interop.gpt2``), against
``transformers.GPT2LMHeadModel`` built from random-initialised configs and saved with
``save_pretrained``: logits and loss with padding, greedy generation through the KV cache, the way
back (``save`` then ``from_pretrained``), bfloat16 params, and every bad folder named."""

import json
import subprocess
import sys

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
    import jax

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

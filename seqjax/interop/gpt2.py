"""GPT-2 checkpoints in Hugging Face's folder format, read into and written from ``TransformerLM``.

    model, params = seqjax.interop.gpt2.load("path/to/gpt2")   # config.json + model.safetensors (or pytorch_model.bin)
    logits = model.logits(params, ids)                        # what transformers' GPT2LMHeadModel gives
    seqjax.interop.gpt2.save("shared/my_gpt2", model, params) # GPT2LMHeadModel.from_pretrained reads it back

GPT-2 is a pre-norm decoder-only transformer with learned positions, which is what
``TransformerLM`` is; every part of a GPT-2 config is converted exactly or refused by name:

    config.json                     TransformerLM
    vocab_size, n_embd, n_head      vocab_size, d_model, num_heads
    n_layer, n_positions, n_inner   num_layers, context, d_ff (None: 4·n_embd)
    activation_function             "gelu_new" (and gelu_pytorch_tanh) -> activation "gelu_tanh"; "gelu"; "relu"
    layer_norm_epsilon              eps
    resid_pdrop = embd_pdrop        dropout (two different rates are refused: one rate covers both)
    attn_pdrop                      attention_dropout
    scale_attn_weights              must be true (1/sqrt(head size)); false is refused
    tie_word_embeddings             must be true: the readout is the token table (tie_output)
    scale_attn_by_inverse_layer_idx, add_cross_attention   must be false (refused otherwise)

Weights: the Conv1D layout ``x @ W + b`` (``[in, out]``) is the one seqjax's dense layers use, so
``c_attn`` ``[d, 3d]`` splits into the query, key and value projections as they are, and the
readout is the token table with a zero bias (GPT-2 has none). Nothing is unpickled from a
safetensors file; a ``pytorch_model.bin`` is read with ``torch.load(weights_only=True)``. A missing
file, an unknown ``model_type``, a field that changes the computation, a truncated file or a tensor
whose shape does not fit the config is a ``CheckpointError`` naming the file and the field or
tensor, before any model is returned.
"""

from __future__ import annotations

import json
import pathlib
import warnings

import jax.numpy as jnp
import numpy as np

from seqjax.data.vocab import EOS_ID, GO_ID
from seqjax.models.language_model import TransformerLM
from seqjax.train.checkpoint import CheckpointError

ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": None, "gelu": "gelu", "relu": "relu"}
REQUIRED = {"scale_attn_weights": True, "tie_word_embeddings": True, "scale_attn_by_inverse_layer_idx": False,
            "add_cross_attention": False}


def model_from_config(config: dict, file: pathlib.Path | str = "config.json") -> TransformerLM:
    """The ``TransformerLM`` a GPT-2 ``config.json`` describes (the table in the module doc)."""
    if config.get("model_type") != "gpt2":
        raise CheckpointError(f"{file}: model_type is {config.get('model_type')!r}; only 'gpt2' checkpoints are read")
    for field, want in REQUIRED.items():
        if config.get(field, want) != want:
            raise CheckpointError(f"{file}: {field}={config[field]!r} changes the computation and TransformerLM has no such "
                                  f"option (it computes as {field}={want!r})")
    activation = config.get("activation_function", "gelu_new")
    if ACTIVATIONS.get(activation) is None:
        raise CheckpointError(f"{file}: activation_function={activation!r} is not one TransformerLM computes "
                              f"(it has {sorted(k for k, v in ACTIVATIONS.items() if v)})")
    resid, embd = config.get("resid_pdrop", 0.1), config.get("embd_pdrop", 0.1)
    if resid != embd:
        raise CheckpointError(f"{file}: resid_pdrop={resid} and embd_pdrop={embd} differ; TransformerLM has one dropout rate for both")
    attention = config.get("attn_pdrop", 0.1)  # None in the model when it is the one dropout rate
    try:
        return TransformerLM(int(config["vocab_size"]), d_model=int(config["n_embd"]), num_heads=int(config["n_head"]),
                             num_layers=int(config["n_layer"]), d_ff=config.get("n_inner"), context=int(config["n_positions"]),
                             dropout=float(resid), attention_dropout=None if attention == resid else float(attention),
                             activation=ACTIVATIONS[activation], norm_first=True, positions="learned", tie_output=True,
                             eps=float(config.get("layer_norm_epsilon", 1e-5)))
    except KeyError as error:
        raise CheckpointError(f"{file}: the field {error.args[0]!r} is missing") from None
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{file}: {error}") from None


def config_from_model(model: TransformerLM, **extra) -> dict:
    """A GPT-2 ``config.json`` for ``model`` (which must be GPT-2 shaped: pre-norm, learned positions, tied)."""
    if not (model.norm_first and model.positions == "learned" and model.tie_output):
        raise ValueError("only a pre-norm TransformerLM with learned positions and a tied readout is a GPT-2 "
                         f"(got norm_first={model.norm_first}, positions={model.positions!r}, tie_output={model.tie_output})")
    activation = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[model.activation]
    rate = model.dropout
    return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": model.vocab_size, "n_embd": model.d_model,
            "n_head": model.num_heads, "n_layer": model.num_layers, "n_positions": model.context, "n_inner": model.d_ff,
            "activation_function": activation, "layer_norm_epsilon": model.eps, "resid_pdrop": rate, "embd_pdrop": rate,
            "attn_pdrop": rate if model.attention_dropout is None else model.attention_dropout, "scale_attn_weights": True,
            "tie_word_embeddings": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
            "use_cache": True, "bos_token_id": None, "eos_token_id": None, **extra}  # None: not GPT2Config's 50256, outside a small vocabulary


def _tensors(folder: pathlib.Path) -> tuple[dict, pathlib.Path]:
    """The checkpoint's tensors by name (as NumPy or JAX arrays) and the file they came from."""
    safetensors_file, bin_file = folder / "model.safetensors", folder / "pytorch_model.bin"
    if safetensors_file.exists():
        try:
            from safetensors.flax import load_file
        except ImportError:
            raise CheckpointError(f"{safetensors_file}: reading it needs the safetensors package (pip install 'seqjax[hf]')") from None
        try:
            return load_file(safetensors_file), safetensors_file
        except Exception as error:  # noqa: BLE001  (safetensors' own error types: a truncated or corrupt file)
            raise CheckpointError(f"{safetensors_file} is unreadable ({type(error).__name__}: {error})") from None
    if bin_file.exists():
        try:
            import torch
        except ImportError:
            raise CheckpointError(f"{bin_file}: reading it needs PyTorch; convert it to model.safetensors instead") from None
        try:
            state = torch.load(bin_file, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001
            raise CheckpointError(f"{bin_file} is unreadable ({type(error).__name__}: {error})") from None
        return {k: jnp.asarray(v.float().numpy()).astype(_jax_dtype(v.dtype)) for k, v in state.items()}, bin_file
    raise CheckpointError(f"{folder} holds neither model.safetensors nor pytorch_model.bin")


def _jax_dtype(torch_dtype):
    return {"torch.bfloat16": jnp.bfloat16, "torch.float16": jnp.float16}.get(str(torch_dtype), jnp.float32)


def load(folder: str | pathlib.Path, *, dtype=None) -> tuple[TransformerLM, dict]:
    """``(model, params)`` from a GPT-2 folder (``config.json`` and ``model.safetensors`` or
    ``pytorch_model.bin``); ``dtype`` casts the params (None: as stored, e.g. bfloat16)."""
    folder = pathlib.Path(folder)
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{folder} holds no config.json: not a Hugging Face checkpoint folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{config_file} is unreadable ({error})") from None
    model = model_from_config(config, config_file)
    tensors, file = _tensors(folder)
    tensors = {k.removeprefix("transformer."): v for k, v in tensors.items()}
    d, v, f = model.d_model, model.vocab_size, model.d_ff or 4 * model.d_model

    def take(name: str, shape: tuple[int, ...], field: str):
        if name not in tensors:
            asks = f"n_layer={model.num_layers}" if name.startswith("h.") else field  # a whole layer missing: the layer count asked
            raise CheckpointError(f"{file}: the tensor {name!r} is missing ({config_file.name}'s {asks} asks for it)")
        value = tensors.pop(name)
        if tuple(value.shape) != shape:
            raise CheckpointError(f"{file}: {name} is {list(value.shape)} but {config_file.name} ({field}) makes it {list(shape)}")
        return value if dtype is None else value.astype(dtype)

    def dense(prefix: str, n_in: int, n_out: int, field: str) -> dict:
        return {"w": take(f"{prefix}.weight", (n_in, n_out), field), "b": take(f"{prefix}.bias", (n_out,), field)}

    def norm(prefix: str) -> dict:
        return {"scale": take(f"{prefix}.weight", (d,), "n_embd"), "bias": take(f"{prefix}.bias", (d,), "n_embd")}

    layers = []
    for i in range(model.num_layers):
        h = f"h.{i}"
        qkv = dense(f"{h}.attn.c_attn", d, 3 * d, "n_embd")
        ws, bs = jnp.split(qkv["w"], 3, axis=1), jnp.split(qkv["b"], 3)  # query, key, value: GPT-2's split of c_attn
        layers.append({"self_attention_norm": norm(f"{h}.ln_1"),
                       "self_attention": {name: {"w": w, "b": b} for name, w, b in zip("qkv", ws, bs)} | {
                           "o": dense(f"{h}.attn.c_proj", d, d, "n_embd")},
                       "feed_forward_norm": norm(f"{h}.ln_2"),
                       "feed_forward": {"w1": dense(f"{h}.mlp.c_fc", d, f, "n_inner"), "w2": dense(f"{h}.mlp.c_proj", f, d, "n_inner")}})
    if f"h.{model.num_layers}.ln_1.weight" in tensors:
        raise CheckpointError(f"{file} has more layers than {config_file.name}'s n_layer={model.num_layers}")
    table = take("wte.weight", (v, d), "vocab_size, n_embd")
    params = {"embed": {"table": table}, "positions": {"table": take("wpe.weight", (model.context, d), "n_positions")},
              "decoder": {"layers": tuple(layers), "norm": norm("ln_f")},
              "readout": {"b": jnp.zeros((v,), table.dtype)}}
    head = tensors.pop("lm_head.weight", None)
    if head is not None and not np.array_equal(np.asarray(head, np.float32), np.asarray(table, np.float32)):
        raise CheckpointError(f"{file}: lm_head.weight differs from wte.weight, but tie_word_embeddings is true")
    for name in [n for n in tensors if n.endswith((".attn.bias", ".attn.masked_bias"))]:
        tensors.pop(name)  # the causal mask buffers older checkpoints store
    if tensors:
        raise CheckpointError(f"{file} holds tensors a GPT-2 of this config does not have: {sorted(tensors)[:6]}")
    return model, params


def fold_readout_bias(params: dict) -> np.ndarray:
    """The final layer norm's bias that makes a tied readout without bias compute what ``params``'
    readout with its bias ``b`` computes: GPT-2 has no readout bias, but ``logits = y Eᵀ + b`` equals
    ``(y + c) Eᵀ`` for the ``c`` that solves ``E c = b`` (least squares, in float64), and ``y`` is the
    final layer norm's output, whose bias takes ``c``. Exact whenever the token table ``E [V, d]`` has
    rank ``V`` (a vocabulary no larger than ``d_model``, e.g. characters); otherwise a ValueError
    says by how much ``b`` is out of reach."""
    norm_bias = np.asarray(params["decoder"]["norm"]["bias"], np.float64)
    bias = np.asarray(params["readout"]["b"], np.float64)
    if not np.any(bias):
        return norm_bias
    table = np.asarray(params["embed"]["table"], np.float64)
    shift = np.linalg.lstsq(table, bias, rcond=None)[0]
    miss = np.abs(table @ shift - bias).max()
    if miss > 1e-5 * max(1.0, np.abs(bias).max()):
        raise ValueError(f"params['readout']['b'] is not zero and GPT-2 has no readout bias; it does not fold into the final "
                         f"norm's bias either (the {table.shape[0]}-token table has rank below {table.shape[0]}: the best fold "
                         f"misses a logit by {miss:.3g}). Train with a zero, frozen readout bias to export this model")
    return norm_bias + shift


def save(folder: str | pathlib.Path, model: TransformerLM, params: dict, **config_fields) -> pathlib.Path:
    """Writes ``config.json`` and ``model.safetensors`` as ``GPT2LMHeadModel.save_pretrained`` does, so that
    ``from_pretrained(folder)`` computes the same logits. ``config_fields`` (e.g. ``bos_token_id``,
    ``eos_token_id``) go into the config. A trained readout bias, which GPT-2 has not, moves into the
    final layer norm's bias (``fold_readout_bias``), or the save is refused."""
    from safetensors.numpy import save_file

    config = config_from_model(model, **config_fields)
    final_norm_bias = fold_readout_bias(params)
    out: dict[str, np.ndarray] = {}
    as_np = lambda x: np.ascontiguousarray(np.asarray(x, np.float32))  # noqa: E731  (safetensors.numpy has no bfloat16)
    out["transformer.wte.weight"] = as_np(params["embed"]["table"])
    out["transformer.wpe.weight"] = as_np(params["positions"]["table"])
    for i, layer in enumerate(params["decoder"]["layers"]):
        h, a = f"transformer.h.{i}", layer["self_attention"]
        out[f"{h}.ln_1.weight"], out[f"{h}.ln_1.bias"] = as_np(layer["self_attention_norm"]["scale"]), as_np(layer["self_attention_norm"]["bias"])
        out[f"{h}.attn.c_attn.weight"] = as_np(jnp.concatenate([a["q"]["w"], a["k"]["w"], a["v"]["w"]], axis=1))
        out[f"{h}.attn.c_attn.bias"] = as_np(jnp.concatenate([a["q"]["b"], a["k"]["b"], a["v"]["b"]]))
        out[f"{h}.attn.c_proj.weight"], out[f"{h}.attn.c_proj.bias"] = as_np(a["o"]["w"]), as_np(a["o"]["b"])
        out[f"{h}.ln_2.weight"], out[f"{h}.ln_2.bias"] = as_np(layer["feed_forward_norm"]["scale"]), as_np(layer["feed_forward_norm"]["bias"])
        ff = layer["feed_forward"]
        out[f"{h}.mlp.c_fc.weight"], out[f"{h}.mlp.c_fc.bias"] = as_np(ff["w1"]["w"]), as_np(ff["w1"]["b"])
        out[f"{h}.mlp.c_proj.weight"], out[f"{h}.mlp.c_proj.bias"] = as_np(ff["w2"]["w"]), as_np(ff["w2"]["b"])
    out["transformer.ln_f.weight"], out["transformer.ln_f.bias"] = as_np(params["decoder"]["norm"]["scale"]), as_np(final_norm_bias)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(out, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return folder


def export(run_dir: str | pathlib.Path, folder: str | pathlib.Path) -> pathlib.Path:
    """A saved seqjax run (``seqjax.save_model``: a ``TransformerLM`` and its vocabulary ``"vocab"``) as a
    Hugging Face folder: the model (``save``) and its tokenizer, so that ``AutoTokenizer`` and
    ``GPT2LMHeadModel.from_pretrained(folder)`` read text as the run did. A character vocabulary becomes
    a ``tokenizers`` word-level model over single characters (joined without spaces when decoded); a
    ``SubwordVocab`` writes its own ``tokenizer.json``. Other vocabularies (words split by a regex) have
    no exact ``tokenizers`` equivalent: the folder then holds the model alone, and the note says so."""
    from seqjax.models.saved import load as load_run

    loaded = load_run(run_dir)
    if not isinstance(loaded.model, TransformerLM):
        raise ValueError(f"{run_dir} holds a {type(loaded.model).__name__}; only a TransformerLM exports as GPT-2")
    vocab = loaded.vocabularies.get("vocab")
    specials = {"bos_token_id": GO_ID, "eos_token_id": EOS_ID} if vocab is not None and vocab.has_specials else {}
    folder = save(folder, loaded.model, loaded.params, **specials)
    tokenizer = None if vocab is None else _hf_tokenizer(vocab)
    if tokenizer is None:
        warnings.warn(f"{folder}: the model only; a {getattr(vocab, 'level', 'missing')!r} vocabulary has no exact tokenizers "
                      "equivalent, so no tokenizer.json was written", stacklevel=2)
        return folder
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                                              "model_max_length": loaded.model.context}, indent=1))
    return folder


def _hf_tokenizer(vocab):
    """A ``tokenizers.Tokenizer`` that encodes and decodes as ``vocab`` does, or None."""
    from seqjax.data.subword import SubwordVocab
    from seqjax.data.tokenizer import CHAR_PATTERN

    if isinstance(vocab, SubwordVocab):
        return vocab.tokenizer
    split = vocab.tokenizer
    if split.pattern != CHAR_PATTERN or split.join != "" or split.rules or split.squeeze_space or split.max_tokens is not None:
        return None
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    unknown = "<UNK>" if "<UNK>" in vocab else None
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab.tokens)}, unk_token=unknown))
    if split.lower:
        tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return tokenizer

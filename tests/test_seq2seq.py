"""Seq2Seq: the forward pass written out by hand, generation consistent with training, padding,
learning a small task, params-only save and load, and every error the issue names."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from seqjax import data, train
from seqjax.data import pairs
from seqjax.models import Seq2Seq
from tests.conftest import assert_close

SRC_V, TGT_V, E, H = 11, 13, 6, 8


def models():
    return {
        "bahdanau": Seq2Seq.recurrent(SRC_V, TGT_V, embed_size=E, hidden_size=H),
        "luong_lstm_stack": Seq2Seq.recurrent(SRC_V, TGT_V, cell="lstm", embed_size=E, hidden_size=H, encoder_layers=3, decoder_layers=2,
                                              attention="general", style="luong", input_feeding=True, residual=True,
                                              readout_hidden=5),
        "plain_copy_tied_shared": Seq2Seq(SRC_V, SRC_V, seqjax.LSTM(E, H), seqjax.LSTM(E, H), bridge="copy", tie_output=True,
                                          share_embeddings=True),
        "zeros_scaled_dot": Seq2Seq.recurrent(SRC_V, TGT_V, embed_size=E, hidden_size=H, bidirectional=False, attention="scaled_dot",
                                              style="luong", bridge="zeros"),
    }


def batch(seed=0, src_len=5, tgt_len=4, b=3, tgt_vocab=TGT_V):
    rng = np.random.default_rng(seed)
    examples = [(list(rng.integers(4, SRC_V, rng.integers(1, src_len + 1))), list(rng.integers(4, tgt_vocab, rng.integers(1, tgt_len))))
                for _ in range(b)]
    return examples, pairs.collate_pairs(examples)


@pytest.mark.parametrize("name", sorted(models()))
@pytest.mark.slow
def test_step_with_gold_tokens_reproduces_the_teacher_forced_logits(name, key):
    model = models()[name]
    params = model.init(key)
    _, b = batch(tgt_vocab=model.tgt_vocab_size)
    logits = model.logits(params, b["source"], b["source_lengths"], b["target_inputs"], b["target_lengths"])
    state = model.prepare(params, b["source"], b["source_lengths"])
    for t in range(b["target_inputs"].shape[1]):
        state, step_logits = model.step(params, state, jnp.asarray(b["target_inputs"][:, t]))
        valid = np.asarray(t < b["target_lengths"])
        assert_close(np.asarray(step_logits)[valid], np.asarray(logits[:, t])[valid])


@pytest.mark.slow  # ~7 s on 2 cores
def test_bahdanau_model_written_out_by_hand(key):
    model = models()["bahdanau"]
    params = model.init(key)
    _, b = batch()
    got = model.logits(params, b["source"], b["source_lengths"], b["target_inputs"], b["target_lengths"])
    # encoder: embedding rows, then the bidirectional GRU as a plain loop
    xs = jnp.asarray(np.asarray(params["src_embed"]["table"])[b["source"]] * (b["source"] != 0)[..., None])
    lengths = jnp.asarray(b["source_lengths"])
    forward, f_final = seqjax.loop_unroll(model.encoder.forward, params["encoder"]["forward"], xs, lengths=lengths)
    backward, b_final = seqjax.loop_unroll(model.encoder.backward, params["encoder"]["backward"], xs, lengths=lengths, reverse=True)
    memory = jnp.concatenate([forward, backward], -1)
    # bridge: s_0 = tanh(W [h_forward; h_backward] + b), and the first query the same way with its own W, b
    summary = np.concatenate([f_final.h, b_final.h], -1)
    s0, q0 = (np.tanh(summary @ np.asarray(p["w"]) + np.asarray(p["b"])) for p in params["bridge"])
    # decoder: query = previous output, context from additive attention, GRU on [y_{i-1}; a_i], readout on [s_i; a_i]
    att, cell = params["decoder"]["attention"], model.decoder.cell
    keys = np.einsum("bsm,ma->bsa", np.asarray(memory), np.asarray(att["wk"])) + np.asarray(att["b"])
    mask = np.arange(memory.shape[1])[None] < b["source_lengths"][:, None]
    s, query = s0, q0
    for t in range(b["target_inputs"].shape[1]):
        scores = np.tanh((query @ np.asarray(att["wq"]))[:, None] + keys) @ np.asarray(att["v"])
        scores = np.where(mask, scores, -np.inf)
        weights = np.exp(scores - scores.max(1, keepdims=True))
        weights /= weights.sum(1, keepdims=True)
        context = np.einsum("bs,bsm->bm", weights, np.asarray(memory))
        y_prev = np.asarray(params["tgt_embed"]["table"])[b["target_inputs"][:, t]] * (b["target_inputs"][:, t] != 0)[:, None]
        new_s = np.asarray(cell.step(params["decoder"]["cell"], seqjax.RNNState(jnp.asarray(s, jnp.float32)),
                                     jnp.asarray(np.concatenate([y_prev, context], -1), jnp.float32))[1])
        want = np.concatenate([new_s, context], -1) @ np.asarray(params["readout"]["w"]) + np.asarray(params["readout"]["b"])
        valid = t < b["target_lengths"]
        assert_close(np.asarray(got[:, t])[valid], want[valid])
        s, query = new_s, new_s


@pytest.mark.parametrize("name", ["bahdanau", "luong_lstm_stack"])
@pytest.mark.slow
def test_padding_never_changes_the_loss(name, key):
    model = models()[name]
    params = model.init(key)
    examples, b = batch(seed=3)
    wide = pairs.collate_pairs(examples, buckets=(12,))
    _, sums = model.loss(params, b)
    _, wide_sums = model.loss(params, wide)
    assert float(wide_sums["count"]) == float(sums["count"])
    assert float(wide_sums["nll"]) == pytest.approx(float(sums["nll"]), rel=1e-5)


@pytest.mark.slow
def test_scheduled_sampling(key):
    model = models()["bahdanau"]
    params = model.init(key)
    _, b = batch(seed=1)
    forced, _ = model.loss(params, b, key)
    assert float(model.loss(params, b, key, sampling_ratio=0.0)[0]) == float(forced)
    sampled, grads = jax.jit(jax.value_and_grad(lambda p, k: model.loss(p, b, k, sampling_ratio=1.0)[0]))(params, key)
    assert np.isfinite(float(sampled)) and float(sampled) != pytest.approx(float(forced))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grads))


def reverse_task(n, seed):
    rng = np.random.default_rng(seed)
    seqs = [list(rng.integers(4, SRC_V, rng.integers(2, 6))) for _ in range(n)]
    return [(s, s[::-1]) for s in seqs]


@pytest.mark.slow
def test_learns_to_reverse_and_beam_width_one_is_greedy(key):
    model = Seq2Seq.recurrent(SRC_V, SRC_V, embed_size=16, hidden_size=32)
    optimizer = train.optimizer(1e-2)
    state = train.TrainState.create(model.init(key), optimizer, key)
    step = train.make_train_step(model.loss, optimizer)
    batches = pairs.pair_batches(reverse_task(512, 0), 64, seed=0, buckets=(8,))  # one shape: one compilation
    with jax.numpy_dtype_promotion("standard"):
        for _ in range(300):
            state, metrics = step(state, next(batches))
    test = reverse_task(64, 1)
    source, lengths = pairs.pad([s for s, _ in test])
    greedy = model.generate(state.params, source, lengths, max_length=8)
    beam = model.generate(state.params, source, lengths, max_length=8, method="beam", beam_width=1)
    assert np.array_equal(np.asarray(beam.tokens[:, 0]), np.asarray(greedy.tokens))
    got = [pairs.strip_specials(row) for row in np.asarray(greedy.tokens)]
    assert np.mean([g == t for g, (_, t) in zip(got, test)]) > 0.9
    wide = model.generate(state.params, source, lengths, max_length=8, method="beam", beam_width=3, attention=True)
    assert wide.records.shape == (64, 3, 8, source.shape[1])


def test_params_save_load_round_trip_and_another_model(tmp_path, key):
    model = models()["bahdanau"]
    params = model.init(key)
    train.save_params(tmp_path / "model", params, {"config": {"hidden": H}, "vocab": ["a", "b"]})
    loaded, meta = train.load_params(tmp_path / "model", like=jax.eval_shape(model.init, key))
    assert meta == {"config": {"hidden": H}, "vocab": ["a", "b"]}
    assert_close(loaded, params)
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(params)
    train.save_params(tmp_path / "model", jax.tree_util.tree_map(lambda p: p + 1, params))  # replaces it whole
    assert_close(train.load_params(tmp_path / "model")[0]["readout"]["b"], np.asarray(params["readout"]["b"]) + 1)
    bigger = Seq2Seq.recurrent(SRC_V + 1, TGT_V, embed_size=E, hidden_size=H)
    with pytest.raises(train.CheckpointError, match=r"parameter 'src_embed/table' is \[11, 6\] float32 there but \[12, 6\] float32 in this model"):
        train.load_params(tmp_path / "model", like=jax.eval_shape(bigger.init, key))
    other = models()["zeros_scaled_dot"]
    with pytest.raises(train.CheckpointError, match="a checkpoint of another model"):
        train.load_params(tmp_path / "model", like=jax.eval_shape(other.init, key))
    with pytest.raises(train.CheckpointError, match="holds no saved parameters"):
        train.load_params(tmp_path / "nowhere")


def test_params_of_a_training_checkpoint(tmp_path, key):
    model = models()["luong_lstm_stack"]
    optimizer = train.optimizer(1e-3)
    state = train.TrainState.create(model.init(key), optimizer, key)
    checkpoints = train.Checkpointer(tmp_path / "ck", every=1)
    checkpoints.save(state, {"data": {}}, force=True)
    params = checkpoints.restore_params(jax.eval_shape(model.init, key))
    assert_close(params, state.params)
    with pytest.raises(train.CheckpointError, match="another model"):
        checkpoints.restore_params(jax.eval_shape(models()["bahdanau"].init, key))
    with pytest.raises(TypeError, match=r"Checkpointer.restore needs like=, a train state .* restore_params"):
        checkpoints.restore(None)


def test_generation_and_vocabulary_errors(tmp_path, key):
    model = models()["bahdanau"]
    params = model.init(key)
    source, lengths = pairs.pad([[4, 5, 6], [7, 8]])
    with pytest.raises(ValueError, match="source sentence 1 is empty"):
        model.generate(params, source, np.array([3, 0]), max_length=5)
    with pytest.raises(ValueError, match=r"source ids must lie in \[0, 11\)"):
        model.generate(params, np.array([[4, 40]]), np.array([2]), max_length=5)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        model.generate(params, source, lengths, max_length=0)
    wide = model.generate(params, source, lengths, max_length=1, method="beam", beam_width=14)  # wider than the 13 tokens
    assert np.all(np.isfinite(np.asarray(wide.scores[:, :13]))) and np.all(np.asarray(wide.scores[:, 13]) == -np.inf)
    with pytest.raises(ValueError, match="method must be 'greedy', 'beam' or 'sample'"):
        model.generate(params, source, lengths, max_length=5, method="top")
    with pytest.raises(ValueError, match="the decoder attends over a memory of size 16, but the encoder outputs 8"):
        Seq2Seq(SRC_V, TGT_V, seqjax.GRU(E, H), models()["bahdanau"].decoder)
    run = train.Run(tmp_path / "run")
    run.check_vocab(data.Vocab.build(["a b c"]), "src_vocab.json")
    run.check_vocab(data.Vocab.build(["a b c"]), "src_vocab.json")  # the same: fine
    with pytest.raises(train.CheckpointError, match="holds another vocabulary than this run's"):
        run.check_vocab(data.Vocab.build(["a b c d"]), "src_vocab.json")

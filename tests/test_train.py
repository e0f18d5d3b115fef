"""Train step, losses and metrics, mixed precision, remat, truncated BPTT, non-finite stops."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import seqjax
from seqjax import data, train
from tests.conftest import assert_close


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes int32 counts with floats
        yield


# --- losses and metrics ------------------------------------------------------------------


@pytest.mark.slow
def test_cross_entropy_matches_numpy_and_ignores_padding():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 7)).astype(np.float32)
    labels = rng.integers(0, 7, size=(3, 5))
    mask = data.mask([5, 2, 0], 5)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    loss, sums = train.cross_entropy(jnp.asarray(logits), jnp.asarray(labels), jnp.asarray(mask))
    np.testing.assert_allclose(loss, nll[mask].mean(), rtol=1e-6)
    np.testing.assert_allclose(sums["correct"], (logits.argmax(-1) == labels)[mask].sum())
    # padding positions may hold anything: garbage there changes nothing
    garbage = np.where(mask[..., None], logits, 1e4).astype(np.float32)
    assert_close(train.cross_entropy(jnp.asarray(garbage), jnp.asarray(labels), jnp.asarray(mask)), (loss, sums))
    summary = train.summarize(sums)
    assert summary["tokens"] == 7
    assert math.isclose(summary["loss_bits"], summary["loss_nats"] / math.log(2))
    assert math.isclose(summary["perplexity"], math.exp(summary["loss_nats"]))
    # sums of sums are exact: two halves give the metrics of the whole
    halves = [train.cross_entropy(jnp.asarray(logits[i:j]), jnp.asarray(labels[i:j]), jnp.asarray(mask[i:j]))[1] for i, j in ((0, 1), (1, 3))]
    assert_close(train.summarize(train.add(*halves)), summary)
    with pytest.raises(ValueError, match=r"labels must have shape \(3, 5\)"):
        train.cross_entropy(jnp.asarray(logits), jnp.asarray(labels[:, :4]))


def test_labels_outside_the_classes_are_an_error_or_a_nan_never_another_class():
    logits = jnp.zeros((2, 3, 4))
    labels = jnp.array([[1, -1, 2], [3, 0, 9]])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\) .* got -1 at position \(0, 1\)"):
        train.cross_entropy(logits, labels)
    mask = jnp.array([[True, False, True], [True, True, False]])  # out-of-range labels that are not counted are fine
    loss, sums = train.cross_entropy(logits, labels, mask)
    assert np.isclose(float(loss), np.log(4)) and float(sums["count"]) == 4
    jitted, _ = jax.jit(train.cross_entropy)(logits, labels)  # under jit: NaN, which the train step never applies
    assert np.isnan(float(jitted))
    assert float(jax.jit(train.cross_entropy)(logits, jnp.array([[1, -100, 2], [3, 0, 1]]), ignore_id=-100)[0]) == pytest.approx(np.log(4))


def test_optimizer_warmup_clipping_and_bad_arguments():
    params = {"w": jnp.ones(3)}
    opt = train.optimizer(0.1, name="sgd", warmup_steps=10, clip_norm=1.0)
    state = opt.init(params)
    momentum, norms, expected = 0.0, [], []
    for j in range(14):  # the plain loop: clip g to norm 1, m = g + 0.9 m, update = -lr_j m, lr_j = 0.1 min(j/10, 1)
        updates, state = opt.update({"w": jnp.full(3, 100.0)}, state, params)
        norms.append(float(jnp.linalg.norm(updates["w"])))
        momentum = 1.0 + 0.9 * momentum
        expected.append(0.1 * min(j / 10, 1.0) * momentum)
    np.testing.assert_allclose(norms, expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="optimizer name must be one of"):
        train.optimizer(0.1, name="adagrad")
    for bad, message in [(dict(learning_rate=float("nan")), "learning_rate must be a finite number > 0, got nan"),
                         (dict(learning_rate=-1e-3), "learning_rate must be a finite number > 0"),
                         (dict(clip_norm=-1.0), "clip_norm must be .* gradient ascent"),
                         (dict(clip_norm=float("inf")), "clip_norm must be a finite number"),
                         (dict(warmup_steps=-5), "warmup_steps must be >= 0"),
                         (dict(weight_decay=float("nan")), "weight_decay must be a finite number")]:
        with pytest.raises(ValueError, match=message):
            train.optimizer(**{"learning_rate": 0.1, **bad})


# --- a small many-to-one model -------------------------------------------------------------


CELL = seqjax.GRU(4, 8)


def init(key):
    k1, k2 = jax.random.split(key)
    return {"cell": CELL.init(k1), "out": jax.random.normal(k2, (8, 2)) * 0.3}


def loss_fn(params, batch, key):
    ys, state = seqjax.unroll(CELL, params["cell"], batch["xs"], lengths=batch["lengths"])
    return train.cross_entropy(state.h @ params["out"], batch["labels"])


def make_batch(seed, b=16, t=6):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(b, t, 4)).astype(np.float32)
    lengths = rng.integers(1, t + 1, size=b).astype(np.int32)
    labels = (xs[np.arange(b), 0, 0] > 0).astype(np.int32)  # the sign of the first input
    return {"xs": xs, "lengths": lengths, "labels": labels}


@pytest.mark.slow
def test_train_step_learns_and_compiles_once(key):
    opt = train.optimizer(3e-2)
    state = train.TrainState.create(init(key), opt, key)
    step = train.make_train_step(loss_fn, opt)
    losses = []
    for i in range(150):
        state, metrics = step(state, make_batch(i % 8))
        assert bool(metrics["finite"])
        losses.append(float(metrics["loss"]))
    assert int(state.step) == 150 and step.compilations == 1
    assert np.mean(losses[-10:]) < 0.4 * np.mean(losses[:10])
    evaluation = train.evaluate(train.make_eval_step(loss_fn), state.params, [make_batch(100), make_batch(101)])
    assert evaluation["accuracy"] > 0.85 and evaluation["tokens"] == 32


def test_non_finite_update_is_not_applied_and_fit_names_the_step(key, tmp_path):
    def poisoned(params, batch, key):
        loss, sums = loss_fn(params, batch, key)
        return loss * jnp.where(batch["poison"], jnp.nan, 1.0), sums

    opt = train.optimizer(1e-2)
    state = train.TrainState.create(init(key), opt, key)
    step = train.make_train_step(poisoned, opt)
    bad = {**make_batch(0), "poison": np.bool_(True)}
    after, metrics = step(state, bad)
    assert not bool(metrics["finite"]) and int(after.step) == 0
    assert_close(after.params, state.params)

    class Stream(data.Batches):  # batch 3 (0-based: the 4th step) is poisoned
        def __next__(self):
            batch = super().__next__()
            return {**batch, "poison": np.bool_(self.index == 4)}

    run = train.Run(tmp_path / "run", checkpoint_every=2)
    batches = Stream([make_batch(i) for i in range(10)], 1, lambda b: b[0], shuffle=False)
    with pytest.raises(train.NonFiniteError, match=r"at step 4 .*last good checkpoint is .*/checkpoints/2"):
        train.fit(state, step, batches, steps=10, run=run, log_every=1)
    assert run.checkpoints.steps() == [2]
    with pytest.raises(ValueError, match="log_every must be >= 1"):
        train.fit(state, step, batches, steps=10, log_every=0)
    restored, meta = run.checkpoints.restore(state)
    assert int(restored.step) == 2 and meta["data"] == {"epoch": 0, "index": 2}


def test_a_non_finite_update_from_finite_gradients_is_not_applied(key, tmp_path):
    opt = optax.chain(optax.sgd(1e-2), optax.scale(float("nan")))  # finite gradients, NaN updates: what a NaN rate gives
    state = train.TrainState.create(init(key), opt, key)
    after, metrics = train.make_train_step(loss_fn, opt)(state, make_batch(0))
    assert np.isfinite(float(metrics["loss"])) and np.isfinite(float(metrics["grad_norm"])) and not bool(metrics["finite"])
    assert int(after.step) == 0
    assert_close(after.params, state.params)


def test_fit_with_a_run_needs_batches_that_can_resume(key, tmp_path):
    opt = train.optimizer(1e-2)
    state = train.TrainState.create(init(key), opt, key)
    step = train.make_train_step(loss_fn, opt)
    plain = iter([make_batch(i) for i in range(4)])
    with pytest.raises(TypeError, match=r"batches must have state\(\) and restore\(\).*got list_iterator.*run=None"):
        train.fit(state, step, plain, steps=4, run=train.Run(tmp_path / "run", tensorboard=False))
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())
    trained = train.fit(state, step, plain, steps=4, log_every=1)  # without a run, any iterator trains
    assert int(trained.step) == 4


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_params(key):
    opt = train.optimizer(1e-2)
    state = train.TrainState.create(init(key), opt, key)
    batch = make_batch(0)
    new32, m32 = train.make_train_step(loss_fn, opt)(state, batch)
    new16, m16 = train.make_train_step(loss_fn, opt, compute_dtype=jnp.bfloat16)(state, batch)
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(new16.params))
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(new16.opt_state) if jnp.issubdtype(p.dtype, jnp.floating))
    np.testing.assert_allclose(m16["loss"], m32["loss"], rtol=3e-2)
    np.testing.assert_allclose(m16["grad_norm"], m32["grad_norm"], rtol=1e-1)


@pytest.mark.slow
def test_remat_gives_the_same_gradients_with_less_memory(key):
    cell = seqjax.LSTM(16, 64)
    params = cell.init(key)
    xs = jax.random.normal(key, (4, 512, 16))

    def loss(params, remat):
        ys, _ = seqjax.unroll(cell, params, xs, options=seqjax.ScanOptions(remat=remat, hoist=False))
        return jnp.sum(ys ** 2)

    grads = [jax.grad(loss)(params, remat) for remat in (False, True)]
    assert_close(grads[1], grads[0])
    memory = [jax.jit(jax.grad(loss), static_argnums=1).lower(params, r).compile().memory_analysis() for r in (False, True)]
    if memory[0] is None:
        pytest.skip("this backend reports no memory analysis")
    assert memory[1].temp_size_in_bytes < 0.75 * memory[0].temp_size_in_bytes


# --- truncated BPTT: the state crosses batches, the gradient does not ------------------------


@pytest.mark.slow
def test_truncated_bptt_carries_state_and_stops_the_gradient(key):
    cell = seqjax.Elman(3, 5)
    params = {"cell": cell.init(key)}

    def lm_loss(params, batch, key, carry):
        ys, carry = seqjax.unroll(cell, params["cell"], batch["xs"], initial_state=carry)
        return jnp.mean(ys[..., 0] - batch["ys"]) ** 2, ({"count": jnp.float32(1.0)}, carry)

    rng = np.random.default_rng(0)
    windows = [{"xs": rng.normal(size=(2, 4, 3)).astype(np.float32), "ys": rng.normal(size=(2, 4)).astype(np.float32)} for _ in range(2)]
    opt = optax.sgd(0.0)  # no update: isolates what the carry does
    state = train.TrainState.create(params, opt, key, carry=cell.initial_state(2))
    step = train.make_train_step(lm_loss, opt, jit=False)
    state1, _ = step(state, windows[0])
    _, direct = seqjax.unroll(cell, params["cell"], windows[0]["xs"])
    assert_close(state1.carry, direct)  # the carry is the state at the end of the window

    grad_step2 = jax.grad(lambda p: lm_loss(p, windows[1], None, direct)[0])(params)  # carry as a constant
    truncated = train.make_train_step(lm_loss, optax.sgd(1.0), jit=False)
    after, _ = truncated(train.TrainState.create(params, optax.sgd(1.0), key, carry=state1.carry), windows[1])
    assert_close(jax.tree_util.tree_map(lambda p, a: p - a, params, after.params), grad_step2)

    def full_bptt(p):  # what the gradient would be if it flowed through the boundary
        _, carry = seqjax.unroll(cell, p["cell"], windows[0]["xs"])
        return lm_loss(p, windows[1], None, carry)[0]

    flat = lambda tree: np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(tree)])  # noqa: E731
    assert not np.allclose(flat(jax.grad(full_bptt)(params)), flat(grad_step2), rtol=1e-3)


@pytest.mark.slow
def test_early_stopping_keeps_the_best_and_stops_where_an_uninterrupted_run_would(key, tmp_path):
    opt = train.optimizer(1e-2)
    step = train.make_train_step(loss_fn, opt)
    scores = {2: 3.0, 4: 2.0, 6: 2.5, 8: 2.6, 10: 2.7, 12: 1.0}  # best at 4; patience 2 stops at 8

    def evaluate(state):
        return {"loss_nats": scores[int(state.step)]}

    def run_fit(run, steps=12, stop=None):
        state = train.TrainState.create(init(key), opt, key)
        batches = data.Batches([make_batch(i) for i in range(20)], 1, lambda b: b[0], shuffle=False)
        watcher = train.EarlyStopping("loss_nats", mode="min", patience=2)
        return train.fit(state, step, batches, steps=steps, run=run, evaluate=evaluate if stop is None else stop,
                         eval_every=2, log_every=1, early_stopping=watcher), watcher

    run = train.Run(tmp_path / "whole", checkpoint_every=1, tensorboard=False)
    final, watcher = run_fit(run)
    assert int(final.step) == 8 and watcher.stopped and (watcher.best, watcher.best_step) == (2.0, 4)
    assert run.best.steps() == [4] and run.best.restore(final)[1]["early_stopping"]["best"] == 2.0
    assert int(run_fit(run)[0].step) == 8  # a stopped run stays stopped

    class Killed(Exception):
        pass

    def killed_at_6(state):
        if int(state.step) == 6:
            raise Killed
        return evaluate(state)

    resumed_run = train.Run(tmp_path / "resumed", checkpoint_every=1, tensorboard=False)
    with pytest.raises(Killed):
        run_fit(resumed_run, stop=killed_at_6)
    final2, watcher2 = run_fit(resumed_run)
    assert int(final2.step) == 8 and watcher2.state() == watcher.state()
    assert_close(final2.params, final.params)
    with pytest.raises(ValueError, match="watches 'accuracy', which the evaluation does not report"):
        train.EarlyStopping("accuracy", mode="max").update(2, {"loss_nats": 1.0})
    with pytest.raises(ValueError, match="EarlyStopping.mode"):
        train.EarlyStopping("loss", mode="lowest")


def test_the_last_evaluation_is_in_the_last_checkpoint_and_a_killed_first_attempt_logs_nothing_twice(key, tmp_path):
    opt = train.optimizer(1e-2)
    step = train.make_train_step(loss_fn, opt)
    scores = {2: 3.0, 4: 2.0, 5: 1.5}

    def run_fit(run):
        state = train.TrainState.create(init(key), opt, key)
        batches = data.Batches([make_batch(i) for i in range(20)], 1, lambda b: b[0], shuffle=False)
        watcher = train.EarlyStopping("loss_nats", mode="min")
        final = train.fit(state, step, batches, steps=5, run=run, evaluate=lambda s: {"loss_nats": scores[int(s.step)]},
                          eval_every=2, log_every=1, early_stopping=watcher)
        return final, watcher

    run = train.Run(tmp_path / "run", checkpoint_every=100, tensorboard=False)
    for logged in (1, 2, 3):  # an attempt killed before its first checkpoint had logged these
        run.log(logged, "train", {"loss": 9.0})
    final, watcher = run_fit(run)
    assert [m["step"] for m in run.metrics() if m["split"] == "train"] == [1, 2, 3, 4, 5]
    assert [m["step"] for m in run.metrics() if m["split"] == "eval"] == [2, 4, 5]  # step 5 evaluated once
    saved = run.checkpoints.restore(final)[1]["early_stopping"]
    assert (saved["best"], saved["best_step"]) == (1.5, 5) == (watcher.best, watcher.best_step)
    assert run.best.steps() == [5]

"""One to many: the generated shape scenes say what their captions say, and the Captioner's
training path, generation path and attention over the image agree with each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import shape_scenes as shapes
from seqjax import train
from seqjax.data import Vocab, pairs
from seqjax.models.captioner import Captioner
from tests.conftest import assert_close


def _objects(caption):
    words = caption.split()
    first = tuple(words[1:4])
    if len(words) == 4:
        return [first], None
    relation = "above" if words[4] == "above" else "to the left of"
    return [first, tuple(words[-3:])], relation


def _centre(image, colour):
    """Mean (y, x) of the pixels within 0.1 of the colour."""
    close = np.abs(image - np.array(shapes.COLOURS[colour])).max(-1) < 0.1
    ys, xs = np.nonzero(close)
    return ys.mean(), xs.mean(), close.sum()


def test_scenes_show_what_their_captions_say():
    images, captions = shapes.shape_captions(300, seed=1, image_size=32)
    assert images.shape == (300, 32, 32, 3) and images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
    vocabulary = set(shapes.words())
    for image, caption in zip(images, captions):
        assert set(caption.split()) <= vocabulary
        objects, relation = _objects(caption)
        if len(objects) == 2 and objects[0][1] == objects[1][1]:
            continue  # same colour: the pixels cannot tell the two apart
        centres = [_centre(image, colour) for _, colour, _ in objects]
        assert all(n > 0 for _, _, n in centres), caption
        if relation == "above":
            assert centres[0][0] < centres[1][0], caption
        elif relation:
            assert centres[0][1] < centres[1][1], caption
        if len(objects) == 2 and objects[0][0] != objects[1][0]:  # the large one covers more pixels
            large = 0 if objects[0][0] == "large" else 1
            assert centres[large][2] > centres[1 - large][2], caption


@pytest.mark.parametrize("held_out", [shapes.HELD_OUT, shapes.PAIRS])
def test_held_out_combinations_never_train_and_always_test(held_out):
    def held(caption):
        return [shapes.is_held_out(obj, held_out) for obj in _objects(caption)[0]]

    _, train_captions = shapes.shape_captions(500, seed=2, split="train", held_out=held_out)
    _, test_captions = shapes.shape_captions(300, seed=2, split="test", held_out=held_out)
    assert not any(any(held(c)) for c in train_captions)
    assert all(any(held(c)) for c in test_captions)
    for combination in held_out:  # each combination is tested, and its parts are trained on
        assert any(set(combination) <= set(c.split()) for c in test_captions)
        for value in combination:
            assert any(value in c.split() for c in train_captions)
    assert shapes.is_held_out(("large", "red", "triangle"), shapes.HELD_OUT)
    assert not shapes.is_held_out(("small", "red", "triangle"), shapes.HELD_OUT)
    assert shapes.is_held_out(("small", "red", "triangle"), shapes.PAIRS)
    with pytest.raises(ValueError, match="split must be one of"):
        shapes.scene(np.random.default_rng(0), split="dev")
    with pytest.raises(ValueError, match="names two values of one attribute"):
        shapes.shape_captions(2, held_out=[("red", "blue")])
    with pytest.raises(ValueError, match="nothing is left to train on"):
        shapes.shape_captions(2, held_out=[(s,) for s in shapes.SHAPES])


def _model(kind, vocab_size=20, **fields):
    return Captioner.recurrent(vocab_size, image_size=16, kind=kind, channels=(3, 8, 8), embed_size=8, hidden_size=16, attention_size=8, **fields)


@pytest.mark.parametrize("kind", ["init", "attend"])
@pytest.mark.slow
def test_teacher_forcing_equals_generation_steps(key, kind):
    model = _model(kind)
    params = model.init(key)
    images = jax.random.uniform(key, (2, 16, 16, 3))
    tokens = jnp.array([[2, 5, 6, 7], [2, 8, 9, 0]], jnp.int32)
    lengths = jnp.array([4, 3])
    logits = model.logits(params, images, tokens, lengths)
    state = model.start(params, model.encode(params, images))
    for t in range(3):  # the three steps both rows have
        state, step_logits = model.step(params, state, tokens[:, t])
        assert_close(step_logits, logits[:, t])


@pytest.mark.slow  # 10-13 s on 2 cores
def test_attention_over_the_image_sums_to_one(key):
    model = _model("attend")
    params = model.init(key)
    images = jax.random.uniform(key, (3, 16, 16, 3))
    out = model.generate(params, images, max_length=5, attention=True)
    assert out.records.shape == (3, 5, model.grid ** 2)
    beams = model.generate(params, images, max_length=5, method="beam", beam_width=3, attention=True)
    for decoded in (out, beams):  # every generated word (up to and including <EOS>; zeros after it)
        sums = np.asarray(decoded.records).sum(-1)
        real = np.arange(5) < np.asarray(decoded.lengths)[..., None]
        np.testing.assert_allclose(sums[real], 1.0, rtol=1e-5)
        assert np.all(sums[~real] == 0) and np.asarray(decoded.records).min() >= 0
    with pytest.raises(ValueError, match="needs the 'attend' captioner"):
        _model("init").generate(_model("init").init(key), images, max_length=3, attention=True)
    with pytest.raises(ValueError, match=r"images must have shape \[batch, 16, 16, 3\]"):
        model.generate(params, images[:, :8], max_length=3)


@pytest.mark.parametrize("kind", ["init", "attend"])
@pytest.mark.slow
def test_a_tiny_captioner_learns_two_captions_exactly(key, kind):
    captions = ["a small red circle", "a large blue square above a small yellow triangle"]
    images = np.zeros((2, 16, 16, 3), np.float32)
    shapes.draw(images[0], "circle", 8, 8, 5, np.array(shapes.COLOURS["red"]))
    shapes.draw(images[1], "square", 4, 8, 7, np.array(shapes.COLOURS["blue"]))
    shapes.draw(images[1], "triangle", 12, 8, 4, np.array(shapes.COLOURS["yellow"]))
    vocab = Vocab.build([c.split() for c in captions])
    batch = {"images": jnp.asarray(images), **pairs.collate_targets([vocab.encode(c.split()) for c in captions], 10)}
    model = _model(kind, len(vocab))
    optimizer = train.optimizer(1e-2, clip_norm=1.0)
    state = train.TrainState.create(model.init(key), optimizer, key)
    step = train.make_train_step(model.loss, optimizer)
    with jax.numpy_dtype_promotion("standard"):
        losses = [float(step(state, batch)[1]["loss"])]
        for _ in range(150):
            state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.05 * losses[0]
    for method in ("greedy", "beam"):
        out = model.generate(state.params, images, max_length=10, method=method, beam_width=3)
        tokens = np.asarray(out.tokens if method == "greedy" else out.tokens[:, 0])
        assert [" ".join(vocab.tokens[i] for i in pairs.strip_specials(row)) for row in tokens] == captions

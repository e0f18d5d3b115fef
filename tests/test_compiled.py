"""Public model methods compile once per shape (``seqjax.core.compiled``): the same values as the
method run op by op, one program per shape, and the eager value checks still raise from inside
the compiled program; inside a user's own jit or grad the method is traced as written."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import seqjax
from seqjax.core import compiled
from seqjax.models import Classifier, TransformerLM
from seqjax.sequences.conv import TextCNN

KEY = jax.random.key(0)
LM = TransformerLM(12, d_model=8, num_heads=2, num_layers=1, context=16)
CLASSIFIER = Classifier(20, 3, TextCNN(6, (2, 3), 4), dropout=0.0)


def test_a_method_compiles_once_per_shape_and_gives_the_op_by_op_values():
    params = LM.init(KEY)
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 12, (3, 7)), jnp.int32)
    before = compiled.compilations()
    first = LM.logits(params, ids)
    assert compiled.compilations() == before + 1
    again = LM.logits(params, ids + 1 - 1)
    assert compiled.compilations() == before + 1  # same shape, new array: the same program
    LM.logits(params, ids[:, :5])
    assert compiled.compilations() == before + 2  # a new shape: a second program
    np.testing.assert_allclose(np.asarray(first), np.asarray(type(LM).logits.__wrapped__(LM, params, ids)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    assert LM.logits.__doc__.startswith(type(LM).logits.__wrapped__.__doc__.rstrip())  # help() shows the method's own doc,
    assert "compiles once per shape" in LM.logits.__doc__                               # and says that it is compiled


def test_eager_value_checks_raise_from_inside_the_compiled_program():
    c_params = CLASSIFIER.init(KEY)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 20\) \(the vocabulary\), got values in \[0, 25\]"):
        CLASSIFIER.logits(c_params, jnp.asarray([[0, 25, 3]]), jnp.asarray([3]))
    batch = {"ids": jnp.ones((2, 4), jnp.int32), "lengths": jnp.asarray([4, 2]), "labels": jnp.asarray([0, 3])}
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) \(the classes\), got values in \[0, 3\]"):
        CLASSIFIER.loss(c_params, batch)
    recurrent = Classifier(20, 3, seqjax.GRU(6, 5), dropout=0.0)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 4\] \(the time axis of xs\), got values in \[4, 6\]"):
        recurrent.logits(recurrent.init(KEY), batch["ids"], jnp.asarray([4, 6]))
    # inside a user's jit the documented traced behaviour holds: no error, the row scores NaN and counts as invalid
    loss, sums = jax.jit(CLASSIFIER.loss)(c_params, batch)
    assert np.isnan(float(loss)) and int(sums["invalid"]) == 1


@pytest.mark.slow  # ~4 s
def test_grad_and_vmap_trace_the_method_as_written():
    params = CLASSIFIER.init(KEY)
    batch = {"ids": jnp.asarray([[3, 4, 5, 0], [6, 7, 0, 0]]), "lengths": jnp.asarray([3, 2]), "labels": jnp.asarray([0, 2])}
    before = compiled.compilations()
    grads = jax.jit(jax.grad(lambda p: CLASSIFIER.loss(p, batch)[0]))(params)
    want = jax.jit(jax.grad(lambda p: type(CLASSIFIER).loss.__wrapped__(CLASSIFIER, p, batch)[0]))(params)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7), grads, want)
    per_row = jax.jit(jax.vmap(lambda i, n: CLASSIFIER.logits(params, i[None], n[None])[0]))(batch["ids"], batch["lengths"])
    np.testing.assert_allclose(np.asarray(per_row), np.asarray(CLASSIFIER.logits(params, batch["ids"], batch["lengths"])), rtol=1e-5)
    assert compiled.compilations() == before + 1  # only the plain eager call compiled a program of its own


def test_non_array_arguments_choose_the_program():
    model = seqjax.models.RecurrentLM(12, seqjax.GRU(4, 6))
    params = model.init(KEY)
    ids = jnp.ones((2, 5), jnp.int32)
    before = compiled.compilations()
    a, _ = model.logits(params, ids)
    b, _ = model.logits(params, ids, options=seqjax.ScanOptions(unroll=2))
    assert compiled.compilations() == before + 2
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)

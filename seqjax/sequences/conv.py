"""Convolutions for text and images: Kim's (2014) sentence CNN, a CNN+RNN hybrid's front end, a
small image encoder, and the max-norm constraint.

Text (``TextCNN``), after Kim 2014 and his code (yoonkim/CNN_sentence): for each region size
``k`` (3, 4, 5) and each of ``feature_maps`` filters ``w ∈ R^{k·d}``,

    c_i = ReLU(w · x_{i:i+k−1} + b)          a feature of every window of k words
    ĉ = max_i c_i                            max-over-time pooling: one number per filter

and the sentence's features are all the ``ĉ`` concatenated (3 × 100 = 300). Windows run over the
sentence zero-padded by ``k − 1`` words on both sides ("wide" convolution, as Kim's code pads), so
a sentence shorter than ``k`` still has features; windows that see only padding are left out of
the maximum, so padding a batch further never changes a result. ``padding="valid"`` uses only
windows inside the sentence (an error when ``k`` exceeds the padded length). With two embedding
channels (Kim's "multichannel", one of them frozen), each filter is applied to both and the
results are added.

``conv1d`` is ``torch.nn.functional.conv1d`` in the batch-major ``[b, t, d]`` layout, with its
``stride``, ``padding`` ("valid", "same", an int, or a pair before/after; "wide" too), ``dilation``
and ``groups`` (tests/test_conv.py compares values and gradients over a grid of shapes); ``ImageCNN`` is 2-D convolutions
(``lax.conv_general_dilated``), ReLU and 2x2 max pooling, returning a feature map that a
captioner attends over.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from seqjax.core.checks import check_positive
from seqjax.layers.dense import uniform_init
from seqjax.core.masking import sequence_mask
from seqjax.core.types import Array, DType, Params, PRNGKey, path_string


Padding = str | int | tuple[int, int]


def _int_at_least(name: str, value, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"conv1d's {name} must be an int >= {low}, got {value!r}")
    return value


def conv_padding(padding: Padding, kernel: int, *, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """The zeros ``(before, after)`` the time axis that ``padding`` means for a kernel of ``kernel``
    taps: "valid" none; "same" PyTorch's (the output as long as the input: ``dilation·(k − 1)``
    split with the smaller half before; stride 1 only, as in PyTorch); "wide" ``dilation·(k − 1)``
    on both sides (the full convolution of Kim's code); an int on both sides; a pair as given."""
    reach = dilation * (kernel - 1)
    if padding == "valid":
        return 0, 0
    if padding == "same":
        if stride != 1:
            raise ValueError(f"conv1d's padding='same' needs stride=1 (as PyTorch's), got stride={stride}; give the padding explicitly")
        return reach // 2, reach - reach // 2
    if padding == "wide":
        return reach, reach
    if isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        return padding, padding
    if (isinstance(padding, tuple) and len(padding) == 2
            and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in padding)):
        return padding
    raise ValueError(f"conv1d's padding must be 'valid', 'same', 'wide', an int >= 0 or a pair (before, after) of them, got {padding!r}")


def conv_length(length, kernel: int, padding: Padding = "valid", *, stride: int = 1, dilation: int = 1):
    """How many windows a sequence of ``length`` steps (an int or an int array) has: the output
    length of ``conv1d`` on it, at least 0. A batch padded further keeps these first windows'
    values (they read the sequence and zeros only), which is how the layers leave padding out."""
    before, after = conv_padding(padding, kernel, stride=stride, dilation=dilation)
    span = length + before + after - dilation * (kernel - 1) - 1
    return max(span // stride + 1, 0) if isinstance(span, int) else jnp.maximum(span // stride + 1, 0)


def conv1d(x: Array, w: Array, b: Array | None = None, *, stride: int = 1, padding: Padding = "valid", dilation: int = 1,
           groups: int = 1) -> Array:
    """``torch.nn.functional.conv1d`` in the batch-major layout: for ``x [b, t, d]`` and ``w [k, d / groups, f]``,

        y[:, i, g·f/groups + o] = Σ_{j<k, c<d/groups} x̃[:, i·stride + j·dilation, g·d/groups + c] · w[j, c, g·f/groups + o] + b[…]

    where ``x̃`` is ``x`` with ``padding`` zeros before and after the time axis (see
    ``conv_padding``: "valid", "same", "wide", an int, or ``(before, after)``) and ``g`` the group of
    the output channel. Output ``[b, conv_length(t, k, padding, stride, dilation), f]``. PyTorch's
    weight ``[f, d / groups, k]`` is ``w.transpose(2, 1, 0)``."""
    stride, dilation, groups = (_int_at_least(n, v) for n, v in (("stride", stride), ("dilation", dilation), ("groups", groups)))
    if x.ndim != 3:
        raise ValueError(f"conv1d's x must be [batch, time, channels], got shape {tuple(x.shape)}")
    if w.ndim != 3:
        raise ValueError(f"conv1d's w must be [kernel, channels / groups, features], got shape {tuple(w.shape)}")
    k, per_group, features = w.shape
    if x.shape[-1] % groups or features % groups or per_group * groups != x.shape[-1]:
        raise ValueError(f"conv1d with groups={groups}: x's {x.shape[-1]} channels and w's {features} features must both divide "
                         f"by groups, and w must be [kernel, {x.shape[-1] // groups if not x.shape[-1] % groups else '?'}, features]; "
                         f"got w of shape {tuple(w.shape)}")
    if b is not None and b.shape != (features,):
        raise ValueError(f"conv1d's b must be [{features}], got shape {tuple(b.shape)}")
    pad = conv_padding(padding, k, stride=stride, dilation=dilation)
    if conv_length(x.shape[1], k, pad, stride=stride, dilation=dilation) == 0:
        raise ValueError(f"conv1d: a kernel of {k} taps with dilation {dilation} reaches {dilation * (k - 1) + 1} steps, more than "
                         f"the {x.shape[1]} of x padded by {pad}")
    y = jax.lax.conv_general_dilated(x, w.astype(x.dtype), window_strides=(stride,), padding=(pad,), rhs_dilation=(dilation,),
                                     dimension_numbers=("NWC", "WIO", "NWC"), feature_group_count=groups)
    return y if b is None else y + b.astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class TextCNN:
    """Kim's sentence CNN over embedded words (module docstring): ``[b, t, d] -> [b, len(region_sizes)·feature_maps]``.

    Fields: ``region_sizes`` (the kernels' taps), ``feature_maps`` per region size, and
    ``conv1d``'s ``padding`` ("wide", Kim's and the default; "valid"; "same"; an int; or a pair),
    ``stride``, ``dilation`` and ``groups`` (``input_size`` and ``feature_maps`` divide by it).
    The max pools over the windows the unpadded sentence has (``conv_length``), so padding a
    batch further never changes a result.

    Params: ``{"convs": ({"w": [k, d / groups, f], "b": [f]}, ...)}``, one per region size.
    """

    input_size: int
    region_sizes: tuple[int, ...] = (3, 4, 5)
    feature_maps: int = 100
    padding: Padding = "wide"
    param_dtype: DType = jnp.float32
    stride: int = 1
    dilation: int = 1
    groups: int = 1

    def __post_init__(self):
        object.__setattr__(self, "region_sizes", tuple(self.region_sizes))
        if isinstance(self.padding, list):
            object.__setattr__(self, "padding", tuple(self.padding))
        check_positive(self, "input_size", "feature_maps", "stride", "dilation", "groups")
        if not self.region_sizes or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in self.region_sizes):
            raise ValueError(f"TextCNN.region_sizes must be positive ints, got {self.region_sizes!r}")
        _check_conv_fields(self, self.region_sizes)

    @property
    def output_dim(self) -> int:
        return len(self.region_sizes) * self.feature_maps

    def init(self, key: PRNGKey) -> Params:
        keys = jax.random.split(key, 2 * len(self.region_sizes))
        convs = []
        for i, k in enumerate(self.region_sizes):
            fan = k * self.input_size // self.groups
            convs.append({"w": uniform_init(keys[2 * i], (k, self.input_size // self.groups, self.feature_maps), fan, self.param_dtype),
                          "b": jnp.zeros((self.feature_maps,), self.param_dtype)})
        return {"convs": tuple(convs)}

    def feature_maps_of(self, params: Params, xs: Array | tuple[Array, ...], lengths: Array | None) -> list[tuple[Array, Array]]:
        """Per region size: ``(c [b, windows, f], valid [b, windows])``, before pooling."""
        channels = xs if isinstance(xs, tuple) else (xs,)
        t = channels[0].shape[1]
        lengths = jnp.full((channels[0].shape[0],), t) if lengths is None else lengths
        real = sequence_mask(lengths, t)[..., None]
        channels = tuple(jnp.where(real, x, jnp.zeros_like(x)) for x in channels)  # padding reads as the zero padding of Kim's code
        conv = dict(stride=self.stride, padding=self.padding, dilation=self.dilation)
        out = []
        for k, p in zip(self.region_sizes, params["convs"]):
            if conv_length(t, k, **conv) == 0:
                raise ValueError(f"TextCNN region size {k} (dilation {self.dilation}) reaches past the padded length {t} of the "
                                 f"inputs with padding={self.padding!r}; pad the batch further or use padding='wide'")
            c = sum(conv1d(x, p["w"], groups=self.groups, **conv) for x in channels) + p["b"].astype(channels[0].dtype)
            # the windows of the sentence itself: the first conv_length(length) (they read it and zeros only)
            out.append((jax.nn.relu(c), sequence_mask(conv_length(lengths, k, **conv), c.shape[1])))
        return out

    def __call__(self, params: Params, xs: Array | tuple[Array, ...], lengths: Array | None = None) -> Array:
        """``xs [b, t, d]`` (or a tuple of channels) with ``lengths [b]`` -> max-over-time features ``[b, K·f]``."""
        channels = xs if isinstance(xs, tuple) else (xs,)
        if any(x.ndim != 3 or x.shape[-1] != self.input_size for x in channels):
            raise ValueError(f"TextCNN expects embedded words [batch, time, {self.input_size}], got shapes "
                             f"{[tuple(x.shape) for x in channels]}")
        pooled = []
        for c, valid in self.feature_maps_of(params, xs, lengths):
            best = jnp.max(jnp.where(valid[..., None], c, jnp.finfo(c.dtype).min), axis=1)
            pooled.append(jnp.where(jnp.any(valid, axis=1)[:, None], best, jnp.zeros_like(best)))
        return jnp.concatenate(pooled, axis=-1)


def _check_conv_fields(owner, kernels) -> None:
    """A layer's ``padding``, ``stride``, ``dilation`` and ``groups`` as ``conv1d`` takes them, named by field."""
    name = type(owner).__name__
    for k in kernels:
        try:
            conv_padding(owner.padding, k, stride=owner.stride, dilation=owner.dilation)
        except ValueError as error:
            raise ValueError(f"{name}.padding: {error}") from None
    features = owner.feature_maps
    if owner.input_size % owner.groups or features % owner.groups:
        raise ValueError(f"{name}.groups ({owner.groups}) must divide input_size ({owner.input_size}) and feature_maps ({features})")


def max_norm(max_value: float = 3.0, *, where=lambda path: True, axis: int = 0) -> optax.GradientTransformation:
    """Kim's constraint as the last link of an optax chain: after the update, every weight vector
    (the slices along ``axis``: with ``w [in, out]`` and ``axis=0``, each output unit's column)
    of the parameters whose path ``where(path)`` accepts has an L2 norm of at most ``max_value``;
    longer ones are scaled back onto the ball (Hinton et al. 2012, Kim 2014: s = 3 on the softmax
    weights). Paths read like ``"head/w"`` (``seqjax.core.types.path_string``)."""
    if not max_value > 0:
        raise ValueError(f"max_norm's max_value must be > 0, got {max_value!r}")

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("max_norm needs the parameters: call optimizer.update(grads, state, params)")

        def constrain(path, u, p):
            if u is None or p.ndim < 2 or not where(path_string(path)):
                return u
            new = p + u
            norm = jnp.sqrt(jnp.sum(jnp.square(new), axis=axis, keepdims=True))
            scale = jnp.minimum(1.0, max_value / jnp.maximum(norm, 1e-12)).astype(new.dtype)
            return new * scale - p

        return jax.tree_util.tree_map_with_path(constrain, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


@dataclasses.dataclass(frozen=True)
class ImageCNN:
    """Image encoder: per entry of ``channels[1:]`` a 3x3 convolution ("same"), ReLU and 2x2 max
    pooling, over ``[b, h, w, channels[0]]`` images. Returns the feature map ``[b, h', w', c]``
    (``h' = h / 2^layers``); ``pooled`` averages it to ``[b, c]``.

    Params: ``{"convs": ({"w": [3, 3, c_in, c_out], "b": [c_out]}, ...)}``.
    """

    channels: tuple[int, ...] = (3, 32, 64, 64)
    kernel: int = 3
    param_dtype: DType = jnp.float32

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) < 2 or not all(isinstance(c, int) and c > 0 for c in self.channels):
            raise ValueError(f"ImageCNN.channels must be at least two positive ints (input, then one per layer), got {self.channels!r}")
        check_positive(self, "kernel")

    @property
    def output_dim(self) -> int:
        return self.channels[-1]

    def init(self, key: PRNGKey) -> Params:
        keys = jax.random.split(key, len(self.channels) - 1)
        convs = []
        for k, (c_in, c_out) in zip(keys, zip(self.channels, self.channels[1:])):
            fan = self.kernel * self.kernel * c_in
            convs.append({"w": uniform_init(k, (self.kernel, self.kernel, c_in, c_out), fan, self.param_dtype),
                          "b": jnp.zeros((c_out,), self.param_dtype)})
        return {"convs": tuple(convs)}

    def __call__(self, params: Params, images: Array) -> Array:
        if images.ndim != 4 or images.shape[-1] != self.channels[0]:
            raise ValueError(f"ImageCNN expects images [batch, height, width, {self.channels[0]}], got {tuple(images.shape)}")
        x = images
        for p in params["convs"]:
            x = jax.lax.conv_general_dilated(x, p["w"].astype(x.dtype), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = jax.nn.relu(x + p["b"].astype(x.dtype))
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        return x

    @staticmethod
    def pooled(feature_map: Array) -> Array:
        return jnp.mean(feature_map, axis=(1, 2))


@dataclasses.dataclass(frozen=True)
class ConvRNN:
    """CNN+RNN: a 1-D convolution over the embedded words (``region_size`` taps, ReLU) whose feature
    sequence a recurrent ``cell`` reads: local n-gram features first, order and long-range context
    after. ``cell.input_size`` must be ``feature_maps``. ``padding`` ("same" by default: one
    feature per word), ``stride``, ``dilation`` and ``groups`` are ``conv1d``'s; with a stride the
    cell reads ``conv_length(lengths)`` features per sentence.

    Params: ``{"conv": {"w": [k, d / groups, f], "b": [f]}, "cell": ...}``. ``__call__`` returns
    ``unroll``'s ``(ys, final_state)``, so any pooling of ``seqjax.sequences.pooling`` applies.
    """

    input_size: int
    cell: object
    region_size: int = 3
    feature_maps: int = 100
    param_dtype: DType = jnp.float32
    padding: Padding = "same"
    stride: int = 1
    dilation: int = 1
    groups: int = 1

    def __post_init__(self):
        if isinstance(self.padding, list):
            object.__setattr__(self, "padding", tuple(self.padding))
        check_positive(self, "input_size", "region_size", "feature_maps", "stride", "dilation", "groups")
        _check_conv_fields(self, (self.region_size,))
        if getattr(self.cell, "input_size", None) != self.feature_maps:
            raise ValueError(f"ConvRNN.cell.input_size must be feature_maps ({self.feature_maps}), got "
                             f"{getattr(self.cell, 'input_size', None)}")

    @property
    def output_dim(self) -> int:
        return self.cell.output_dim

    def init(self, key: PRNGKey) -> Params:
        kc, kr = jax.random.split(key)
        fan = self.region_size * self.input_size // self.groups
        shape = (self.region_size, self.input_size // self.groups, self.feature_maps)
        return {"conv": {"w": uniform_init(kc, shape, fan, self.param_dtype), "b": jnp.zeros((self.feature_maps,), self.param_dtype)},
                "cell": self.cell.init(kr)}

    def __call__(self, params: Params, xs: Array, lengths: Array | None = None, *, key: PRNGKey | None = None):
        from seqjax.sequences.unroll import unroll

        conv = dict(stride=self.stride, padding=self.padding, dilation=self.dilation)
        # zeros past each sentence, as the convolution's own padding: the first conv_length(length)
        # features then do not depend on how far the batch is padded
        if lengths is not None:
            xs = jnp.where(sequence_mask(lengths, xs.shape[1])[..., None], xs, jnp.zeros_like(xs))
            lengths = conv_length(jnp.asarray(lengths), self.region_size, **conv)
        features = jax.nn.relu(conv1d(xs, params["conv"]["w"], params["conv"]["b"], groups=self.groups, **conv))
        return unroll(self.cell, params["cell"], features, lengths=lengths, key=key)

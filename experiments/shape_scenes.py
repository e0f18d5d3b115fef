"""Shape captions: images of one or two coloured shapes with a caption from a small grammar, generated in code.

    caption  := object | object relation object
    object   := "a" size colour shape             size ∈ {small, large}, colour ∈ COLOURS, shape ∈ SHAPES
    relation := "above" | "to the left of"

    "a small red circle"
    "a large blue triangle above a small yellow square"
    "a small green square to the left of a large purple circle"

A caption is a function of the image: in a two-shape scene the shapes sit in the top and bottom
halves ("above", the upper one named first) or in the left and right halves ("to the left of",
the left one first), and their offset across that axis is at most ``MAX_OFFSET`` of the image, so
a scene never also reads as the other relation. Colours are jittered a little and the background
is faint noise, so the model sees more than a few exact pixel values.

Held-out combinations test composition, not memory: ``split="train"`` scenes never contain an
object with a ``held_out`` combination of attributes, and every ``split="test"`` scene contains at
least one. A combination is any set of attribute values: the default ``HELD_OUT`` holds out three
(size, colour, shape) triples, so "a large red triangle" is never seen although large red
circles, small red triangles and large blue triangles are; ``PAIRS`` holds out (colour, shape)
pairs, so no red triangle of any size is ever seen (a much harder test for a captioner, whose
language model learns that "red" is never followed by "triangle": README, experiments.caption).

    images, captions = shape_captions(1000, seed=0, split="test", image_size=32)   # [n, 32, 32, 3] float32, list[str]
    images, captions = shape_captions(1000, seed=0, split="test", held_out=PAIRS)
"""

from __future__ import annotations

import numpy as np

COLOURS = {"red": (0.9, 0.12, 0.1), "green": (0.15, 0.75, 0.15), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1),
           "purple": (0.6, 0.2, 0.75)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.28, "large": 0.42}         # the shape's width as a fraction of the image side
RELATIONS = ("above", "to the left of")
HELD_OUT = (("large", "red", "triangle"), ("small", "green", "square"), ("large", "blue", "circle"), ("small", "yellow", "circle"))
PAIRS = (("red", "triangle"), ("green", "square"), ("blue", "circle"))
MAX_OFFSET = 0.12                               # across-axis offset of a two-shape scene, fraction of the side
SPLITS = ("train", "test")


def words() -> list[str]:
    """Every word the grammar can write."""
    out = ["a", *SIZES, *COLOURS, *SHAPES]
    for relation in RELATIONS:
        out += [w for w in relation.split() if w not in out]
    return out


def describe(objects: list[tuple[str, str, str]], relation: str | None = None) -> str:
    """The caption of ``[(size, colour, shape)]`` (one, or two in reading order, with their ``relation``)."""
    text = " ".join(f"a {size} {colour} {shape}" for size, colour, shape in objects[:1])
    if len(objects) == 2:
        size, colour, shape = objects[1]
        text += f" {relation} a {size} {colour} {shape}"
    return text


def draw(image: np.ndarray, shape: str, cy: float, cx: float, diameter: float, colour: np.ndarray) -> None:
    """Paint a filled ``shape`` centred at pixel ``(cy, cx)`` into ``image [h, w, 3]``."""
    h, w, _ = image.shape
    y, x = np.mgrid[0:h, 0:w] + 0.5
    r = diameter / 2
    if shape == "circle":
        inside = (y - cy) ** 2 + (x - cx) ** 2 <= r ** 2
    elif shape == "square":
        side = 0.9 * r  # a little smaller than the circle's box, so both look the same size but keep their corners
        inside = (np.abs(y - cy) <= side) & (np.abs(x - cx) <= side)
    elif shape == "triangle":  # pointing up: the half-width grows from 0 at the apex to r at the base
        top, bottom = cy - r, cy + r
        inside = (y >= top) & (y <= bottom) & (np.abs(x - cx) <= r * (y - top) / (bottom - top))
    else:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    image[inside] = colour


def is_held_out(obj: tuple[str, str, str], held_out) -> bool:
    """Whether ``(size, colour, shape)`` has every value of some combination in ``held_out``."""
    return any(set(combination) <= set(obj) for combination in held_out)


def check_held_out(held_out) -> tuple[tuple[str, ...], ...]:
    known = set(SIZES) | set(COLOURS) | set(SHAPES)
    held_out = tuple(tuple(c) for c in held_out)
    for combination in held_out:
        if not combination or not set(combination) <= known:
            raise ValueError(f"held_out combination {combination!r} must name attribute values among {sorted(known)}")
        kinds = [next(i for i, group in enumerate((SIZES, COLOURS, SHAPES)) if v in group) for v in combination]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"held_out combination {combination!r} names two values of one attribute: no object has both")
    return held_out


def _object(rng: np.random.Generator, split: str, force_held_out: bool, held_out) -> tuple[str, str, str]:
    while True:
        obj = (str(rng.choice(list(SIZES))), str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)))
        is_held = is_held_out(obj, held_out)
        if (split == "train" and not is_held) or (split == "test" and (is_held or not force_held_out)):
            return obj


def scene(rng: np.random.Generator, image_size: int = 32, split: str = "train", two_shapes: float = 0.7,
          held_out=HELD_OUT) -> tuple[np.ndarray, str]:
    """One ``(image [s, s, 3] float32 in [0, 1], caption)``; see the module docstring for ``split``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 pixels (two large shapes side by side), got {image_size}")
    s = float(image_size)
    image = rng.uniform(0.0, 0.08, (image_size, image_size, 3)).astype(np.float32)
    n = 2 if rng.random() < two_shapes else 1
    first_held = split == "test" and (n == 1 or rng.random() < 0.5)  # which object carries the held-out pair
    objects = [_object(rng, split, first_held, held_out), _object(rng, split, split == "test" and not first_held, held_out)][:n]
    if n == 1:
        relation = None
        d = SIZES[objects[0][0]] * s
        places = [(rng.uniform(d / 2 + 1, s - d / 2 - 1), rng.uniform(d / 2 + 1, s - d / 2 - 1))]
    else:
        relation = RELATIONS[int(rng.integers(2))]
        half = s / 2
        places = []
        centre = rng.uniform(0.3 * s, 0.7 * s)  # across the relation's axis, shared up to the offset
        for i, obj in enumerate(objects):
            d = SIZES[obj[0]] * s
            along = rng.uniform(i * half + d / 2 + 1, (i + 1) * half - d / 2 - 1)  # inside its own half
            across = np.clip(centre + rng.uniform(-1, 1) * MAX_OFFSET * s / 2, d / 2 + 1, s - d / 2 - 1)
            places.append((along, across) if relation == "above" else (across, along))
    for (size, colour, shape), (cy, cx) in zip(objects, places):
        tint = np.clip(np.array(COLOURS[colour]) + rng.uniform(-0.06, 0.06, 3), 0, 1)
        draw(image, shape, cy, cx, SIZES[size] * s, tint)
    return image, describe(objects, relation)


def shape_captions(n: int, seed: int = 0, *, split: str = "train", image_size: int = 32, two_shapes: float = 0.7,
                   held_out=HELD_OUT) -> tuple[np.ndarray, list[str]]:
    """``n`` scenes: ``(images [n, s, s, 3] float32, captions)``, a function of ``(seed, split, held_out)``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    held_out = check_held_out(held_out)
    if split == "train" and all(is_held_out(o, held_out) for o in _all_objects()):
        raise ValueError("held_out covers every object: nothing is left to train on")
    rng = np.random.default_rng([seed, SPLITS.index(split) if split in SPLITS else 99])
    images = np.zeros((n, image_size, image_size, 3), np.float32)
    captions = []
    for i in range(n):
        images[i], caption = scene(rng, image_size, split, two_shapes, held_out)
        captions.append(caption)
    return images, captions


def _all_objects() -> list[tuple[str, str, str]]:
    return [(size, colour, shape) for size in SIZES for colour in COLOURS for shape in SHAPES]

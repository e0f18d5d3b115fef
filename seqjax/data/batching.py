"""Padding, masks, bucketing and resumable batch iterators (plain NumPy).

Every shape ``jit`` sees costs a compilation, so variable-length data is padded to
a small set of *bucket* lengths: ``pad(seqs, buckets=(16, 32, 64))`` pads a batch to
the smallest bucket that holds its longest sequence (and clips at the largest), so a
stream of batches compiles at most ``len(buckets)`` times. ``Batches(...,
lengths=len)`` also groups examples of similar length into the same batch, so little
is spent on padding. ``make_train_step(...).compilations`` counts the compilations.

The iterators are deterministic functions of ``(seed, epoch, index)``: ``state()`` is
two integers, saved with every checkpoint, and ``restore(state)`` continues exactly
where a killed run stopped. (That, and no extra dependency, is why seqjax uses plain
NumPy iterators rather than grain: our data fits in memory, and grain's checkpointable
sampler would buy the same two integers at the price of a heavy dependency.)
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import jax
import numpy as np

from seqjax.data.vocab import PAD_ID


def bucket_length(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket >= ``length``; the largest bucket when none is (the batch is clipped)."""
    for bucket in sorted(buckets):
        if length <= bucket:
            return bucket
    return max(buckets)


def _check_buckets(buckets) -> tuple[int, ...]:
    buckets = tuple(sorted(int(b) for b in buckets))
    if not buckets or buckets[0] < 1:
        raise ValueError(f"buckets must be a non-empty list of positive lengths, got {buckets}")
    return buckets


def check_ids(seqs: Sequence[Sequence[int]], what: str = "seqs", vocab_size: int | None = None) -> list[np.ndarray]:
    """Each sequence as an int array; a float or other non-integer id (``1.7`` would silently become
    1), a negative id, or one past ``vocab_size`` is an error naming ``what[i]`` and the value."""
    out = []
    for i, s in enumerate(seqs):
        ids = np.asarray(s)
        if ids.size == 0:
            out.append(np.zeros(0, np.int64))
            continue
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"{what}[{i}] must be a sequence of int token ids, got {ids.dtype} values {ids.ravel()[:4].tolist()}"
                            + ("" if ids.ndim == 1 else f" of shape {ids.shape}"))
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or (vocab_size is not None and high >= vocab_size):
            bad = low if low < 0 else high
            raise ValueError(f"{what}[{i}] holds id {bad}, outside the vocabulary [0, {vocab_size if vocab_size is not None else 'size'})")
        out.append(ids)
    return out


def pad(seqs: Sequence[Sequence[int]], length: int | None = None, *, buckets: Sequence[int] | None = None,
        pad_id: int = PAD_ID, clip: bool = True, dtype=np.int32, vocab_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pads (and clips) id sequences to one length: ``(ids [b, length], lengths [b])``.

    The length is ``length`` if given, else the bucket of the longest sequence (with
    ``buckets``), else the longest sequence. Longer sequences are clipped at the end;
    with ``clip=False`` they raise instead. ``lengths`` are the lengths after clipping.
    Ids must be ints (``check_ids``), and below ``vocab_size`` when it is given.
    """
    if length is not None and buckets is not None:
        raise ValueError("give either length or buckets, not both")
    seqs = check_ids(seqs, "seqs", vocab_size)
    longest = max((len(s) for s in seqs), default=0)
    if buckets is not None:
        length = bucket_length(longest, _check_buckets(buckets))
    elif length is None:
        length = longest
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    if not clip and longest > length:
        raise ValueError(f"a sequence of length {longest} does not fit length={length} and clip=False")
    out = np.full((len(seqs), length), pad_id, dtype)
    lengths = np.zeros(len(seqs), np.int32)
    for i, s in enumerate(seqs):
        s = s[:length]
        out[i, : len(s)] = s
        lengths[i] = len(s)
    return out, lengths


def mask(lengths, length: int) -> np.ndarray:
    """``mask[b, t] = t < lengths[b]``: True at real tokens, False at padding."""
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


class Batches:
    """Mini-batches of ``examples``, shuffled by ``seed`` each epoch, resumable.

    Args:
      examples: a sequence of examples (anything ``collate`` accepts as a list).
      batch_size: examples per batch.
      collate: list of examples -> batch (a dict of arrays); e.g. pads with ``pad``.
      seed: the shuffle of epoch ``e`` is a function of ``(seed, e)`` only.
      shuffle: False keeps the given order.
      epochs: stop after this many epochs; None repeats forever.
      drop_last: drop the final short batch of each epoch (keeps shapes static).
      lengths: ``length_of(example)``; with it, examples are grouped into batches of
        similar length (shuffled within and across groups), "bucketing by length".
      shard: ``(index, count)`` in a multi-process run (``seqjax.train.distributed.shard()``):
        every process plans the same global batches of ``batch_size`` and collates only its
        rows ``[index * batch_size / count, (index + 1) * batch_size / count)`` of each.
    """

    def __init__(self, examples: Sequence[Any], batch_size: int, collate: Callable[[list], Any], *, seed: int = 0,
                 shuffle: bool = True, epochs: int | None = None, drop_last: bool = True,
                 lengths: Callable[[Any], int] | None = None, shard: tuple[int, int] | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.rows = _shard_rows(shard, batch_size, "batch_size")
        if shard is not None and not drop_last:
            raise ValueError("Batches(shard=...) needs drop_last=True: a short last batch would not divide over the processes")
        if len(examples) < (batch_size if drop_last else 1):
            raise ValueError(f"examples has {len(examples)} items, fewer than one batch of batch_size={batch_size}")
        self.examples, self.batch_size, self.collate = examples, batch_size, collate
        self.seed, self.shuffle, self.epochs, self.drop_last = seed, shuffle, epochs, drop_last
        self._lengths = None if lengths is None else np.array([lengths(e) for e in examples])
        self.epoch, self.index = 0, 0
        self._plan_epoch = None

    def _plan(self, epoch: int) -> list[np.ndarray]:
        """The batches of ``epoch`` as arrays of example indices."""
        n = len(self.examples)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self._lengths is not None:  # stable sort by length keeps the shuffle among equal lengths
            order = order[np.argsort(self._lengths[order], kind="stable")]
        cut = n - n % self.batch_size if self.drop_last else n
        batches = [order[i: i + self.batch_size] for i in range(0, cut, self.batch_size)]
        if self._lengths is not None and self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.examples)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        return self

    def __next__(self):
        if self.index >= len(self):
            self.epoch, self.index = self.epoch + 1, 0
        if self.epochs is not None and self.epoch >= self.epochs:
            raise StopIteration
        if self._plan_epoch is None or self._plan_epoch[0] != self.epoch:
            self._plan_epoch = (self.epoch, self._plan(self.epoch))
        indices = self._plan_epoch[1][self.index][self.rows]
        self.index += 1
        return self.collate([self.examples[i] for i in indices])

    def state(self) -> dict:
        """The position, as JSON-able ints: the next batch is batch ``index`` of ``epoch``."""
        return {"epoch": self.epoch, "index": self.index}

    def restore(self, state: dict) -> None:
        """Back to a position that ``state()`` gave: ``epoch >= 0`` and ``0 <= index <=`` the batches of
        an epoch (its end is a position too); anything else is an error, never a silent restart."""
        try:
            epoch, index = state["epoch"], state["index"]
            if isinstance(epoch, bool) or isinstance(index, bool) or int(epoch) != epoch or int(index) != index:
                raise TypeError
            epoch, index = int(epoch), int(index)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"data state must be a dict with integer 'epoch' and 'index', got {state!r}") from None
        per_epoch = len(self) if hasattr(self, "__len__") else None
        if epoch < 0 or index < 0 or (per_epoch is not None and index > per_epoch):
            raise ValueError(f"data state {state!r} is not a position of these batches: 'epoch' must be >= 0 and 'index' in "
                             f"[0, {per_epoch if per_epoch is not None else 'inf'}] (other data or settings than the checkpoint's?)")
        self.epoch, self.index = epoch, index


def _shard_rows(shard, batch_size: int, what: str) -> slice:
    """This process's rows of a global batch."""
    if shard is None:
        return slice(None)
    try:
        index, count = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be (process_index, process_count), got {shard!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"shard=({index}, {count}): the index must be in [0, {count})")
    if batch_size % count:
        raise ValueError(f"{what}={batch_size} does not divide over {count} processes; use a multiple of {count}")
    per = batch_size // count
    return slice(index * per, (index + 1) * per)


class TokenStream:
    """Contiguous windows of one long token stream, for stateful (truncated-BPTT) language models.

    The stream is cut into ``batch_size`` rows; batch ``i`` holds window ``i`` of every
    row, so row ``r`` of one batch continues row ``r`` of the previous one and the
    carried state stays meaningful. Each batch is a dict::

        inputs  [b, window]   ids[t]
        targets [b, window]   ids[t + 1]
        reset   []            True on an epoch's first window: start from a fresh state

    Each epoch starts at a random offset below ``window`` (from ``seed``), so windows
    do not always break at the same characters; ``shuffle_offset=False`` starts at 0.
    With ``shard=(index, count)`` (a multi-process run), a process reads only its rows
    ``[index * batch_size / count, (index + 1) * batch_size / count)`` of the stream.
    """

    def __init__(self, ids: Sequence[int] | np.ndarray, batch_size: int, window: int, *, seed: int = 0,
                 epochs: int | None = None, shuffle_offset: bool = True, shard: tuple[int, int] | None = None):
        self.ids = np.asarray(ids, np.int32)
        if self.ids.ndim != 1:
            raise ValueError(f"ids must be a 1-D token stream, got shape {self.ids.shape}")
        if batch_size < 1 or window < 1:
            raise ValueError(f"batch_size and window must be >= 1, got {batch_size} and {window}")
        self.batch_size, self.window, self.seed, self.epochs = batch_size, window, seed, epochs
        self.rows = _shard_rows(shard, batch_size, "batch_size")
        self.shuffle_offset = shuffle_offset
        if len(self) < 1:
            raise ValueError(f"a stream of {len(self.ids)} tokens is too short for batch_size={batch_size} x window={window}")
        self.epoch, self.index = 0, 0

    def __len__(self) -> int:
        """Windows per epoch (the worst case offset leaves ``window - 1`` tokens unused)."""
        row = (len(self.ids) - self.window) // self.batch_size
        return max(0, (row - 1) // self.window)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self.index >= len(self):
            self.epoch, self.index = self.epoch + 1, 0
        if self.epochs is not None and self.epoch >= self.epochs:
            raise StopIteration
        offset = int(np.random.default_rng([self.seed, self.epoch]).integers(self.window)) if self.shuffle_offset else 0
        row = (len(self.ids) - offset) // self.batch_size
        first, last = self.rows.indices(self.batch_size)[:2]
        rows = self.ids[offset + first * row: offset + last * row].reshape(last - first, row)
        start = self.index * self.window
        batch = Batch(ids=rows[:, start: start + self.window], targets=rows[:, start + 1: start + self.window + 1],
                      reset=np.bool_(self.index == 0))
        self.index += 1
        return batch

    state = Batches.state
    restore = Batches.restore


RENAMED_KEYS = {"inputs": "ids"}  # a language model's batch: "inputs" until the conventions of issue 30


class Batch(dict):
    """A batch: a plain dict of arrays (a pytree like any dict) in which a key of an earlier release
    (``RENAMED_KEYS``) still reads, for one release, with a DeprecationWarning naming the new key."""

    def __missing__(self, key):
        new = RENAMED_KEYS.get(key)
        if new is None or new not in self:
            raise KeyError(key)
        warnings.warn(f"batch[{key!r}] is now batch[{new!r}] (the batch-key conventions in the README)", DeprecationWarning, stacklevel=2)
        return self[new]


jax.tree_util.register_pytree_node(Batch, lambda b: (tuple(b[k] for k in sorted(b)), tuple(sorted(b))),
                                   lambda keys, values: Batch(zip(keys, values)))


def batch_key(batch: dict, key: str):
    """``batch[key]``, or the array under the key's earlier name with a DeprecationWarning (a batch a
    user built by hand with the old key)."""
    if key in batch:
        return batch[key]
    old = next((o for o, n in RENAMED_KEYS.items() if n == key and o in batch), None)
    if old is None:
        raise KeyError(f"the batch has no {key!r} (it has {sorted(batch)})")
    warnings.warn(f"batch[{old!r}] is now batch[{key!r}] (the batch-key conventions in the README)", DeprecationWarning, stacklevel=3)
    return batch[old]


class Generated:
    """Synthetic batches, ``batch i = make(i)`` (e.g. from ``fold_in(key, i)``): endless and resumable.

    Generated tasks (number phrases, shape captions, recall tasks) need no epochs or
    shuffling; making each batch a function of its index is what makes them resumable.
    ``shard=(process, processes)`` gives this process its rows of every global batch (each process
    makes the whole batch, padded alike, and keeps its contiguous block of rows).
    """

    def __init__(self, make: Callable[[int], Any], *, shard: tuple[int, int] | None = None):
        if shard is not None and not (len(shard) == 2 and 0 <= shard[0] < shard[1]):
            raise ValueError(f"shard={shard}: expected (process index, process count) with the index in [0, count)")
        self.make, self.shard, self.epoch, self.index = make, shard, 0, 0

    def __iter__(self):
        return self

    def __next__(self):
        batch = self.make(self.index)
        self.index += 1
        if self.shard is None:
            return batch
        index, count = self.shard

        def rows(x):
            if x.shape[0] % count:
                raise ValueError(f"a generated batch of {x.shape[0]} rows does not divide over {count} processes")
            n = x.shape[0] // count
            return x[index * n:(index + 1) * n]

        return jax.tree_util.tree_map(rows, batch)

    state = Batches.state
    restore = Batches.restore

"""Fixed-shape batches over epochs whose examples are drawn anew each epoch, resumable mid-epoch.

    batches = EpochBatches(lambda rng, count_only: corpus.skipgram_pairs(rng, count_only=count_only),
                           epochs=5, batch_size=512, chunk=32, seed=1, words_per_epoch=corpus.raw_words)
    batches.steps                 # the exact number of batches in all epochs (what ``fit`` is told)
    batch = next(batches)         # {"centers": [32, 512], "contexts": [32, 512], "valid": [32, 512], "count": words}

An epoch's examples come from ``make_epoch(rng, count_only=False)``, a tuple of arrays with one
example per row, with ``rng = numpy.random.default_rng([seed, epoch])``: the same seed gives the
same examples, so ``state()`` (epoch and batch index) is all a checkpoint needs to resume
exactly. ``make_epoch(rng, count_only=True)`` must return the number of examples the same draws
give without building them (``steps`` is known before training starts).

``chunk`` stacks that many batches along a leading axis, for train steps that run a
``lax.scan`` over them (one dispatch per chunk instead of per batch). The epoch's last chunk is
padded with copies of row 0 marked ``valid`` False, so every batch has one shape and the step
compiles once. While an epoch trains, the next one is drawn in a background thread (NumPy
releases the interpreter lock, so it runs on another core); the first is drawn from the start,
while the train step compiles. ``count`` is the number of corpus words the chunk's examples stand for (the
epoch's ``words_per_epoch`` shared out by example), from which ``fit`` reports words per second.
"""

from __future__ import annotations

import concurrent.futures
import math
from typing import Callable, Sequence

import numpy as np


class EpochBatches:
    def __init__(self, make_epoch: Callable[..., Sequence[np.ndarray] | int], *, names: Sequence[str], epochs: int,
                 batch_size: int, chunk: int | None = None, seed: int = 0, words_per_epoch: int | None = None):
        for name, value in (("epochs", epochs), ("batch_size", batch_size), ("chunk", chunk or 1)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.make_epoch, self.names, self.epochs = make_epoch, tuple(names), epochs
        self.batch_size, self.chunk, self.seed, self.words_per_epoch = batch_size, chunk, seed, words_per_epoch
        self.sizes = [int(make_epoch(self._rng(e), count_only=True)) for e in range(epochs)]
        if min(self.sizes) == 0:
            raise ValueError(f"an epoch has no examples (sizes {self.sizes}): the corpus is too small for these settings")
        self.per_batch = batch_size * (chunk or 1)
        self.batches_per_epoch = [math.ceil(n / self.per_batch) for n in self.sizes]
        self.steps = sum(self.batches_per_epoch)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.epoch, self.index, self._data = 0, 0, None
        self._next = (0, self._pool.submit(self._make, 0))  # drawn while the train step compiles

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch])

    def _make(self, epoch: int):
        return self.make_epoch(self._rng(epoch), count_only=False)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self.epoch < self.epochs and self.index >= self.batches_per_epoch[self.epoch]:
            self.epoch, self.index, self._data = self.epoch + 1, 0, None
        if self.epoch >= self.epochs:
            raise StopIteration
        if self._data is None:
            ready = self._next is not None and self._next[0] == self.epoch
            self._data = tuple(self._next[1].result() if ready else self._make(self.epoch))
            self._next = None
            if self.epoch + 1 < self.epochs:  # the next epoch is drawn on another core while this one trains
                self._next = (self.epoch + 1, self._pool.submit(self._make, self.epoch + 1))
            if len(self._data) != len(self.names) or len(self._data[0]) != self.sizes[self.epoch]:
                raise RuntimeError(f"make_epoch gave {len(self._data)} arrays of {len(self._data[0])} rows; its count said "
                                   f"{len(self.names)} arrays of {self.sizes[self.epoch]}")
        start = self.index * self.per_batch
        stop = min(start + self.per_batch, self.sizes[self.epoch])
        take = np.arange(start, start + self.per_batch)
        valid = take < stop
        take = np.where(valid, take, 0)
        shape = (self.chunk, self.batch_size) if self.chunk else (self.batch_size,)
        batch = {name: array[take].reshape(shape + array.shape[1:]) for name, array in zip(self.names, self._data)}
        batch["valid"] = valid.reshape(shape)
        words = self.words_per_epoch if self.words_per_epoch is not None else self.sizes[self.epoch]
        batch["count"] = np.float32(words * (stop - start) / self.sizes[self.epoch])
        self.index += 1
        return batch

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def restore(self, state: dict) -> None:
        epoch, index = int(state["epoch"]), int(state["index"])
        if not (0 <= epoch <= self.epochs and (epoch == self.epochs or 0 <= index <= self.batches_per_epoch[epoch])):
            raise ValueError(f"cannot restore the position {state}: these batches have {self.epochs} epochs of "
                             f"{self.batches_per_epoch} batches (other settings than the checkpoint's?)")
        self.epoch, self.index, self._data = epoch, index, None
        self._next = (epoch, self._pool.submit(self._make, epoch)) if epoch < self.epochs else None

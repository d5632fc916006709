"""Producing items on background threads, in order: :func:`prefetch` (one producer) and :func:`side_by_side` (several).

Reading and decoding the next Arrow batch (pyarrow releases the GIL) overlaps
with the consumer's work on the current one. One reader thread can be the
bottleneck of a pipeline whose engine uses every core between batches:
:func:`side_by_side` reads the next inputs while the consumer still takes the
current one's items, and yields every item in the inputs' order.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = object()


class Lane:
    """``items`` produced on a background thread, up to ``depth`` ahead, from construction on.

    Iterate it to take the items; an exception of the producer is re-raised in
    the consumer at its place among the items. :meth:`close` stops the
    producer (a consumer that stops early must call it).
    """

    def __init__(self, items: Iterator[Any], depth: int = 2) -> None:
        self._buffer: queue.Queue[tuple[BaseException | None, Any]] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(items,), name="stemmatic-prefetch", daemon=True
        )
        self._thread.start()

    def _produce(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                while not self._stop.is_set():
                    try:
                        self._buffer.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._buffer.put((None, _DONE))
        except BaseException as err:  # handed to the consumer
            self._buffer.put((err, None))

    def __iter__(self) -> Iterator[Any]:
        while True:
            err, item = self._buffer.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._buffer.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Produce ``items`` on a background thread, up to ``depth`` ahead.

    Reading and decoding the next Arrow batch (pyarrow releases the GIL)
    overlaps with the engine's work on the current one (so does the Rust
    engine). Exceptions are re-raised in the consumer, in order; a consumer
    that stops early stops the producer.

    >>> list(prefetch(iter(range(5))))
    [0, 1, 2, 3, 4]
    """
    lane = Lane(items, depth)
    try:
        yield from lane
    finally:
        lane.close()


def side_by_side(sources: Iterable[Iterator[T]], lanes: int, depth: int = 2) -> Iterator[Iterator[T]]:
    """The items of each source, in order, each source produced on its own thread while up to ``lanes`` run.

    Yields one iterator per source, which must be taken in full (or the
    consumer stops) before the next; the ``lanes - 1`` sources after it are
    produced meanwhile, each up to ``depth`` items ahead. A source's
    exception is re-raised at its place. ``lanes`` 1: no threads.

    >>> [list(items) for items in side_by_side([iter("ab"), iter("c"), iter("")], lanes=2)]
    [['a', 'b'], ['c'], []]
    """
    if lanes <= 1:
        yield from sources
        return
    pending = iter(sources)
    running: collections.deque[Lane] = collections.deque()
    try:
        while True:
            while len(running) < lanes:
                source = next(pending, None)
                if source is None:
                    break
                running.append(Lane(source, depth))
            if not running:
                return
            lane = running.popleft()
            try:
                yield iter(lane)
            finally:
                lane.close()
    finally:
        for lane in running:
            lane.close()

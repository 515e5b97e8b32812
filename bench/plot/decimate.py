"""Bounded-memory decimation of growing time series for plotting (no Qt here).

:class:`MinMaxEnvelope` keeps, for the whole history of a curve, at most ``max_buckets`` buckets of
equal row count, each holding its minimum and maximum with their times. When the buckets run out
their width doubles (adjacent pairs merge), so memory stays fixed however long the run; spikes
survive because a bucket keeps its extremes, not an average. :class:`RingBuffer` holds the newest
raw rows. :class:`DecimatedSeries` combines both: envelope for the past, raw rows for the recent
part, at most ``2 * (max_buckets + 1) + recent_rows`` points to draw, in fixed memory.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """The newest ``capacity`` (x, y) pairs, oldest first on read."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("ring buffer capacity must be >= 1")
        self.capacity = capacity
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        """Append rows; the oldest fall out once the buffer is full."""
        x = np.asarray(x, dtype=float)[-self.capacity:]
        y = np.asarray(y, dtype=float)[-self.capacity:]
        n = len(x)
        if n == 0:
            return
        first = min(n, self.capacity - self._next)
        self._x[self._next:self._next + first] = x[:first]
        self._y[self._next:self._next + first] = y[:first]
        if n > first:
            self._x[:n - first] = x[first:]
            self._y[:n - first] = y[first:]
        self._next = (self._next + n) % self.capacity
        self._size = min(self.capacity, self._size + n)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the buffered x and y, oldest first."""
        if self._size < self.capacity:
            return self._x[:self._size].copy(), self._y[:self._size].copy()
        order = np.r_[self._next:self.capacity, 0:self._next]
        return self._x[order], self._y[order]


class MinMaxEnvelope:
    """Min/max buckets over the full history of a curve, at most ``max_buckets`` of them.

    ``bucket_rows`` (rows per bucket) starts at 1 and doubles as needed. Rows that do not fill a
    bucket yet go into one open bucket (running min/max), so memory is fixed: ``max_buckets + 1``
    buckets of four floats. NaN values are ignored; an all-NaN bucket draws as a gap.
    """

    def __init__(self, max_buckets: int = 2048) -> None:
        if max_buckets < 2:
            raise ValueError("max_buckets must be >= 2")
        self.max_buckets = max_buckets
        self.bucket_rows = 1
        self.rows = 0
        # per bucket: time of its minimum, the minimum, time of its maximum, the maximum
        self._b = np.empty((0, 4))
        self._open = np.full((1, 4), np.nan)
        self._open_rows = 0

    @property
    def buckets(self) -> int:
        """Closed buckets in use."""
        return len(self._b)

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add rows (x increasing)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if len(x) == 0:
            return
        self.rows += len(x)
        # widen the buckets first so that this batch never needs more than max_buckets
        while len(self._b) + (len(x) + self._open_rows) // self.bucket_rows > self.max_buckets:
            self._merge_pairs()
        start = 0
        if self._open_rows:
            start = min(len(x), self.bucket_rows - self._open_rows)
            head = _buckets(x[:start], y[:start], start)
            self._open = _combine(self._open, head) if self._open_rows else head
            self._open_rows += start
            if self._open_rows == self.bucket_rows:
                self._b = np.concatenate((self._b, self._open))
                self._open_rows = 0
        rest = len(x) - start
        full = (rest // self.bucket_rows) * self.bucket_rows
        if full:
            self._b = np.concatenate((self._b, _buckets(x[start:start + full], y[start:start + full],
                                                        self.bucket_rows)))
        tail = rest - full
        if tail:
            self._open = _buckets(x[start + full:], y[start + full:], tail)
            self._open_rows = tail

    def _merge_pairs(self) -> None:
        """Double the bucket width: merge adjacent pairs (an odd last bucket stays as it is)."""
        self.bucket_rows *= 2
        b = self._b
        pairs = len(b) // 2
        if pairs:
            self._b = np.concatenate((_combine(b[0:2 * pairs:2], b[1:2 * pairs:2]), b[2 * pairs:]))

    def _all(self) -> np.ndarray:
        return np.concatenate((self._b, self._open)) if self._open_rows else self._b

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y to draw: two points per bucket, in time order."""
        b = self._all()
        first_is_min = b[:, 0] <= b[:, 2]
        x = np.empty(2 * len(b))
        y = np.empty(2 * len(b))
        x[0::2] = np.where(first_is_min, b[:, 0], b[:, 2])
        y[0::2] = np.where(first_is_min, b[:, 1], b[:, 3])
        x[1::2] = np.where(first_is_min, b[:, 2], b[:, 0])
        y[1::2] = np.where(first_is_min, b[:, 3], b[:, 1])
        return x, y

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, bytes."""
        return self._b.nbytes + self._open.nbytes


def _buckets(x: np.ndarray, y: np.ndarray, rows: int) -> np.ndarray:
    """Min/max (with times) of consecutive groups of ``rows`` rows; len(x) is a multiple of rows."""
    xs = x.reshape(-1, rows)
    ys = y.reshape(-1, rows)
    out = np.empty((len(xs), 4))
    idx = np.arange(len(xs))
    nan = np.isnan(ys)
    lo = np.where(nan, np.inf, ys).argmin(axis=1)
    hi = np.where(nan, -np.inf, ys).argmax(axis=1)
    out[:, 0] = xs[idx, lo]
    out[:, 1] = ys[idx, lo]
    out[:, 2] = xs[idx, hi]
    out[:, 3] = ys[idx, hi]
    return out


def _combine(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Bucket-wise union of two bucket arrays of equal length (``a`` earlier than ``c``)."""
    out = np.empty_like(a)
    take_a = ~(c[:, 1] < a[:, 1]) & (~np.isnan(a[:, 1]) | np.isnan(c[:, 1]))
    out[:, 0] = np.where(take_a, a[:, 0], c[:, 0])
    out[:, 1] = np.where(take_a, a[:, 1], c[:, 1])
    keep_a = ~(c[:, 3] > a[:, 3]) & (~np.isnan(a[:, 3]) | np.isnan(c[:, 3]))
    out[:, 2] = np.where(keep_a, a[:, 2], c[:, 2])
    out[:, 3] = np.where(keep_a, a[:, 3], c[:, 3])
    return out


class DecimatedSeries:
    """One plotted curve: the envelope of the whole history plus the newest raw rows."""

    def __init__(self, max_buckets: int = 2048, recent_rows: int = 4096) -> None:
        self.envelope = MinMaxEnvelope(max_buckets)
        self.recent = RingBuffer(recent_rows)

    @property
    def rows(self) -> int:
        """Rows seen so far."""
        return self.envelope.rows

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add rows (x increasing)."""
        self.envelope.extend(x, y)
        self.recent.extend(x, y)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw: envelope before the raw window, raw rows inside it."""
        rx, ry = self.recent.arrays()
        ex, ey = self.envelope.points()
        if len(rx) == 0:
            return ex, ey
        before = ex < rx[0]
        return np.concatenate((ex[before], rx)), np.concatenate((ey[before], ry))

    @property
    def max_points(self) -> int:
        """Upper bound of ``len(points()[0])``."""
        return 2 * (self.envelope.max_buckets + 1) + self.recent.capacity

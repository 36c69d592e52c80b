"""Columnar sample batches (``link_pb2.SampleBatch``) to and from numpy arrays.

Both tiers convert whole columns at once; no Python code touches individual samples here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from protos import link_pb2

BYTES_PER_SAMPLE = 4 + 8 + 8 + 8  # series index, seq, timestamp, value


class BatchFormatError(ValueError):
    """A batch whose columns do not agree with each other or with its header."""


@dataclass(slots=True)
class Columns:
    keys: list[tuple[str, str, str]]  # (device_id, sensor_type, unit) per series index
    series_index: np.ndarray  # uint32
    seqs: np.ndarray  # int64
    ts_us: np.ndarray  # int64
    values: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.seqs)

    def tail(self, start: int) -> Columns:
        """The samples from index ``start`` on (the series keys stay as they are)."""
        if start <= 0:
            return self
        return Columns(self.keys, self.series_index[start:], self.seqs[start:], self.ts_us[start:],
                       self.values[start:])


def encode(
    series_ids: np.ndarray,
    seqs: np.ndarray,
    ts_us: np.ndarray,
    values: np.ndarray,
    key_of: Sequence[tuple[str, str, str]] | dict[int, tuple[str, str, str]],
    key_base: int = 1,
) -> link_pb2.SampleBatch:
    """Build a batch from columns; ``key_of[series_id - key_base]`` is each series' key."""
    uniq, index = np.unique(series_ids, return_inverse=True)
    series = []
    for sid in uniq.tolist():
        dev, sensor, unit = key_of[sid - key_base]
        series.append(link_pb2.SeriesKey(device_id=dev, sensor_type=sensor, unit=unit))
    return link_pb2.SampleBatch(
        first_seq=int(seqs[0]),
        last_seq=int(seqs[-1]),
        count=len(seqs),
        series=series,
        series_index=index.astype("<u4").tobytes(),
        seqs=np.ascontiguousarray(seqs, dtype="<i8").tobytes(),
        timestamps_us=np.ascontiguousarray(ts_us, dtype="<i8").tobytes(),
        values=np.ascontiguousarray(values, dtype="<f8").tobytes(),
    )


def decode(batch: link_pb2.SampleBatch) -> Columns:
    """Columns of a batch, checked for consistency (raises ``BatchFormatError``)."""
    n = batch.count
    if (
        len(batch.series_index) != 4 * n
        or len(batch.seqs) != 8 * n
        or len(batch.timestamps_us) != 8 * n
        or len(batch.values) != 8 * n
    ):
        raise BatchFormatError(f"column lengths do not match count={n}")
    index = np.frombuffer(batch.series_index, dtype="<u4")
    seqs = np.frombuffer(batch.seqs, dtype="<i8")
    if n:
        if int(index.max()) >= len(batch.series):
            raise BatchFormatError("series index out of range")
        if n > 1 and not bool(np.all(seqs[1:] > seqs[:-1])):
            raise BatchFormatError("sequence numbers do not increase")
        if int(seqs[0]) != batch.first_seq or int(seqs[-1]) != batch.last_seq:
            raise BatchFormatError("first_seq/last_seq do not match the seqs column")
    keys = [(s.device_id, s.sensor_type, s.unit) for s in batch.series]
    return Columns(
        keys,
        index,
        seqs,
        np.frombuffer(batch.timestamps_us, dtype="<i8"),
        np.frombuffer(batch.values, dtype="<f8"),
    )

"""Preallocated key/value cache for batched autoregressive decoding."""

from __future__ import annotations

import torch


class KVCache:
    """Keys and values of every layer in one tensor ``[n_layers, 2, batch, heads, capacity, head_dim]``.

    Columns ``[offset, offset + length)`` hold the sequence seen so far. A forward pass calls :meth:`append`
    once per layer (all with the same number of new columns) and then :meth:`advance`. Rows that finish are
    dropped with :meth:`select_rows`; leading columns that are padding for every remaining row are dropped
    for free with :meth:`trim_left`. Capacity grows in chunks, so memory follows the longest live row.

    Args:
        n_layers: transformer layers.
        batch: rows.
        n_heads: attention heads.
        head_dim: width of one head.
        capacity: columns to allocate up front.
        max_length: columns never needed beyond this (caps growth).
        dtype: storage dtype (the model's).
        device: storage device (the model's).
        grow_by: minimum number of columns added when the cache is full.
    """

    def __init__(
        self,
        n_layers: int,
        batch: int,
        n_heads: int,
        head_dim: int,
        capacity: int,
        max_length: int,
        dtype: torch.dtype,
        device: torch.device,
        grow_by: int = 256,
    ) -> None:
        self.data = torch.empty(n_layers, 2, batch, n_heads, capacity, head_dim, dtype=dtype, device=device)
        self.offset = 0
        self.length = 0
        self.max_length = max_length
        self.grow_by = grow_by

    @property
    def capacity(self) -> int:
        """Allocated columns."""
        return self.data.shape[4]

    @property
    def batch_size(self) -> int:
        """Rows currently held."""
        return self.data.shape[2]

    def reserve(self, n_new: int) -> None:
        """Make room for ``n_new`` more columns, reallocating (and dropping trimmed columns) if needed."""
        needed = self.length + n_new
        if self.offset + needed <= self.capacity:
            return
        new_capacity = min(max(needed, self.length + max(self.grow_by, self.length // 2)), self.max_length)
        new_capacity = max(new_capacity, needed)
        shape = list(self.data.shape)
        shape[4] = new_capacity
        grown = self.data.new_empty(shape)
        grown[:, :, :, :, : self.length].copy_(self.data[:, :, :, :, self.offset : self.offset + self.length])
        self.data = grown
        self.offset = 0

    def append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``[batch, heads, n_new, head_dim]`` keys/values after the filled columns of one layer.

        Returns:
            Views ``[batch, heads, length + n_new, head_dim]`` of all keys and values of that layer.
        """
        start = self.offset + self.length
        end = start + keys.shape[2]
        if end > self.capacity:
            raise RuntimeError(f"KVCache overflow: {end} > capacity {self.capacity}; call reserve() first")
        self.data[layer, 0, :, :, start:end] = keys
        self.data[layer, 1, :, :, start:end] = values
        return self.data[layer, 0, :, :, self.offset : end], self.data[layer, 1, :, :, self.offset : end]

    def advance(self, n_new: int) -> None:
        """Mark ``n_new`` columns written by the last pass over all layers as filled."""
        self.length += n_new

    def put_row(self, row: int, start: int, source: KVCache) -> None:
        """Copy the filled columns of a one-row ``source`` cache into ``row`` at column ``start``.

        Columns before ``start`` (left padding) are zeroed: masked keys must still be finite, or the attention
        kernel turns ``-inf * 0`` into NaN. Call :meth:`advance` once all rows are in.
        """
        end = start + source.length
        if end > self.capacity - self.offset:
            raise RuntimeError(f"KVCache.put_row: columns up to {end} exceed capacity {self.capacity}")
        target = self.data[:, :, row, :, self.offset + self.length :]
        target[:, :, :, :start].zero_()
        target[:, :, :, start:end].copy_(source.data[:, :, 0, :, source.offset : source.offset + source.length])

    def select_rows(self, index: torch.Tensor) -> None:
        """Keep only the rows in ``index`` (a LongTensor on the cache's device), in that order."""
        self.data = self.data.index_select(2, index)

    def trim_left(self, n_columns: int) -> None:
        """Forget the first ``n_columns`` filled columns (e.g. padding no remaining row needs)."""
        if not 0 <= n_columns <= self.length:
            raise ValueError(f"cannot trim {n_columns} columns from a cache of length {self.length}")
        self.offset += n_columns
        self.length -= n_columns

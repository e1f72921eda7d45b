"""Small tensor kernels shared by the T2S model: a fast linear layer and the sine position table."""

from __future__ import annotations

import logging
import math
import weakref

import torch
import torch.nn.functional as F


logger = logging.getLogger(__name__)

_onednn_enabled: bool | None = None  # None: not probed yet
# id(weight) -> (weakref to weight, (data_ptr, version), packed weight)
_PACKED: dict[int, tuple[weakref.ref, tuple[int, int], torch.Tensor]] = {}


def _probe_onednn() -> bool:
    """Whether ``torch.ops.mkldnn._linear_pointwise`` exists and agrees with ``F.linear`` on this build."""
    try:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(3, 8, generator=gen)
        w = torch.randn(5, 8, generator=gen)
        b = torch.randn(5, generator=gen)
        with torch.inference_mode():
            got = torch.ops.mkldnn._linear_pointwise(x, torch.ops.mkldnn._reorder_linear_weight(w), b, "relu", [], "")
        ok = torch.allclose(got, F.relu(F.linear(x, w, b)), atol=1e-5)
    except (AttributeError, RuntimeError, NotImplementedError) as exc:
        logger.debug("oneDNN linear unavailable: %s", exc)
        return False
    return bool(ok) and torch.backends.mkldnn.is_available()


def set_onednn_linear(enabled: bool | None) -> None:
    """Force the oneDNN CPU linear on/off (``None``: probe again on next use). Mainly for tests and benchmarks."""
    global _onednn_enabled
    _onednn_enabled = _probe_onednn() if enabled else (None if enabled is None else False)


def onednn_linear_enabled() -> bool:
    """Whether fp32 CPU linears go through oneDNN (probed once)."""
    global _onednn_enabled
    if _onednn_enabled is None:
        _onednn_enabled = _probe_onednn()
    return _onednn_enabled


def _packed(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` reordered into oneDNN's blocked layout, cached per weight tensor.

    The cache is keyed on the tensor's identity, storage address and version counter, so ``load_state_dict``,
    ``.to()`` or any in-place update packs again (an update through ``.data`` is not seen: avoid it). Entries
    die with their weight; nothing is attached to the module, so models still pickle and deep-copy. It costs one
    extra copy of each packed weight in memory.
    """
    try:
        version = weight._version
    except RuntimeError:  # inference tensors have no version counter
        version = -1
    key = (weight.data_ptr(), version)
    entry = _PACKED.get(id(weight))
    if entry is None or entry[0]() is not weight or entry[1] != key:
        ident = id(weight)
        owner = weakref.ref(weight, lambda _: _PACKED.pop(ident, None))
        entry = (owner, key, torch.ops.mkldnn._reorder_linear_weight(weight.detach()))
        _PACKED[ident] = entry
    return entry[2]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool = False) -> torch.Tensor:
    """``F.linear`` (optionally followed by ReLU) with a faster kernel for fp32 CPU inference.

    The stock CPU path (MKL sgemm on a plain weight) is memory-bound and slow for the skinny matrices of batched
    decoding (a few rows times a large weight). oneDNN on a weight packed once into its blocked layout makes a
    decoding step of 8 rows cost about as much as one of 1 row. Results differ from ``F.linear`` only by fp32
    rounding. The oneDNN op has no autograd, so it is used only when no gradient is needed.

    Args:
        x: ``[..., in]`` input.
        weight: ``[out, in]``.
        bias: ``[out]`` or ``None``.
        relu: apply ReLU to the output (fused on the oneDNN path).
    """
    if (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))
        and onednn_linear_enabled()
    ):
        return torch.ops.mkldnn._linear_pointwise(x, _packed(weight), bias, "relu" if relu else "none", [], "")
    out = F.linear(x, weight, bias)
    return F.relu(out) if relu else out


def sine_table(n_positions: int, dim: int) -> torch.Tensor:
    """Sinusoidal position table ``[n_positions, dim]`` in float32, even columns sin, odd columns cos.

    Built with the same operations, in the same order, as upstream's ``SinePositionalEmbedding.extend_pe``
    so the values are bitwise identical.
    """
    table = torch.zeros(n_positions, dim)
    position = torch.arange(0, n_positions, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    return table

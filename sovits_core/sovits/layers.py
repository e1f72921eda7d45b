"""Small building blocks shared by the SoVITS sub-networks: masks, channel LayerNorm, weight-norm key handling.

Weight norm: upstream wraps many convolutions in ``torch.nn.utils.weight_norm``, so its files hold
``<name>.weight_g`` / ``<name>.weight_v`` pairs. At inference the re-parametrisation is pure overhead, so our modules
are plain convolutions marked with :func:`weight_norm_keys`; a load hook folds a pair into ``weight = g * v / |v|``
when a state dict is loaded, and :func:`split_weight_norm` turns a weight back into the pair when we write a file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


_WN_FLAG = "_upstream_weight_norm"


def sequence_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Bool mask ``[B, max_len]``: True where the position is inside the row."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def frame_mask(lengths: torch.Tensor, max_len: int, dtype: torch.dtype) -> torch.Tensor:
    """Float mask ``[B, 1, max_len]`` for channel-first tensors."""
    return sequence_mask(lengths, max_len).unsqueeze(1).to(dtype)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a ``[B, C, T]`` tensor (upstream's ``modules.LayerNorm``: gamma/beta)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return y.transpose(1, -1)


def _norm_except_dim0(v: torch.Tensor) -> torch.Tensor:
    """L2 norm over every dim but the first, kept as ``[n, 1, 1, ...]`` (what ``weight_norm(dim=0)`` uses)."""
    return torch.linalg.vector_norm(v.flatten(1), dim=1).view(-1, *([1] * (v.dim() - 1)))


def fuse_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``weight = g * v / ||v||`` computed in float32 (files store fp16 halves)."""
    v32 = v.float()
    return g.float() * v32 / _norm_except_dim0(v32)


def split_weight_norm(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`fuse_weight_norm`: ``g = ||w||`` per output row, ``v = w``."""
    return _norm_except_dim0(weight.float()).to(weight.dtype), weight.clone()


def _fold_pair_hook(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    g_key, v_key = prefix + "weight_g", prefix + "weight_v"
    if g_key in state_dict and v_key in state_dict:
        state_dict[prefix + "weight"] = fuse_weight_norm(state_dict.pop(g_key), state_dict.pop(v_key))


def weight_norm_keys(module: nn.Module) -> nn.Module:
    """Mark a conv as weight-normed upstream: loads from ``weight_g``/``weight_v`` and exports as such."""
    setattr(module, _WN_FLAG, True)
    module.register_load_state_dict_pre_hook(_fold_pair_hook)
    return module


def has_weight_norm_keys(module: nn.Module) -> bool:
    return bool(getattr(module, _WN_FLAG, False))


def _upstream_entries(root: nn.Module):
    """Yield ``(key, tensor, kind)`` in upstream's order; kind is "plain" or "wn" (a weight to split into g/v)."""
    for name, module in root.named_modules():
        prefix = f"{name}." if name else ""
        own = [(n, p) for n, p in module.named_parameters(recurse=False)]
        own += [(n, b) for n, b in module.named_buffers(recurse=False) if n not in module._non_persistent_buffers_set]
        wn = has_weight_norm_keys(module)
        for pname, tensor in own:
            if wn and pname == "weight":
                continue
            yield prefix + pname, tensor, "plain"
        if wn:
            yield prefix + "weight", module.weight, "wn"


def upstream_state_dict(root: nn.Module) -> dict[str, torch.Tensor]:
    """State dict in upstream's layout and order (weight-normed convs as ``bias, weight_g, weight_v``)."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor, kind in _upstream_entries(root):
        if kind == "wn":
            stem = key[: -len("weight")]
            out[stem + "weight_g"], out[stem + "weight_v"] = split_weight_norm(tensor.detach())
        else:
            out[key] = tensor.detach()
    return out


def upstream_shapes(root: nn.Module) -> dict[str, torch.Size]:
    """Keys and shapes of :func:`upstream_state_dict` without computing anything (works on the meta device)."""
    out: dict[str, torch.Size] = {}
    for key, tensor, kind in _upstream_entries(root):
        if kind == "wn":
            stem = key[: -len("weight")]
            out[stem + "weight_g"] = torch.Size([tensor.shape[0]] + [1] * (tensor.dim() - 1))
            out[stem + "weight_v"] = tensor.shape
        else:
            out[key] = tensor.shape
    return out


def leaky_relu(x: torch.Tensor, slope: float = 0.1) -> torch.Tensor:
    return F.leaky_relu(x, slope)

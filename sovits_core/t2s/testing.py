"""Deterministic random T2S weights and requests for tests, benchmarks and tiny debug checkpoints.

The recipes depend only on parameter names, shapes and a seed, so the same weights can be rebuilt inside
upstream GPT-SoVITS (identical key names) to compare the two implementations.
"""

from __future__ import annotations

import math

import torch

from sovits_core.t2s.config import BERT_DIM, T2SConfig
from sovits_core.t2s.generate import T2SRequest
from sovits_core.t2s.model import T2SModel


#: A 2-layer, 32-wide model with the real v2 vocabularies.
TINY_CONFIG = T2SConfig(embedding_dim=32, hidden_dim=32, n_heads=2, n_layers=2, linear_units=128)


def state_dict_shapes(cfg: T2SConfig) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of :class:`T2SModel` for ``cfg``, in state-dict order (no allocation)."""
    with torch.device("meta"):
        model = T2SModel(cfg)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def seeded_state_dict(cfg: T2SConfig, seed: int = 0, eos_bias: float = 0.0) -> dict[str, torch.Tensor]:
    """Random float32 weights drawn key by key from one seeded generator.

    Matrices get ``N(0, 1/fan_in)``, embeddings ``N(0, 1)``, biases ``N(0, 0.02^2)``, LayerNorm gains
    ``1 + N(0, 0.1^2)``, position scales ``alpha`` ``1 + U(0, 0.5)``.

    Args:
        cfg: architecture.
        seed: generator seed.
        eos_bias: shifts the EOS logit by about ``eos_bias * (1 + N(0, 1/16))`` (positive: EOS likelier,
            strongly negative: EOS never wins): the last layer's output bias is set to ``4 u`` for a random unit
            vector ``u`` and ``eos_bias * u / 4`` is added to the EOS row of ``ar_predict_layer``.
    """
    gen = torch.Generator().manual_seed(seed)
    weights: dict[str, torch.Tensor] = {}
    for key, shape in state_dict_shapes(cfg).items():
        weights[key] = _draw(key, shape, gen)
    if eos_bias:
        direction = torch.randn(cfg.hidden_dim, generator=gen)
        direction /= direction.norm()
        weights[f"h.layers.{cfg.n_layers - 1}.norm2.bias"] = 4.0 * direction
        weights["ar_predict_layer.weight"][cfg.eos] += 0.25 * eos_bias * direction
    return weights


def _draw(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if key.endswith(".alpha"):
        return 1.0 + 0.5 * torch.rand(shape, generator=gen)
    if ".norm" in key and key.endswith(".weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    if key.endswith("bias"):
        return 0.02 * torch.randn(shape, generator=gen)
    if "embedding" in key:
        return torch.randn(shape, generator=gen)
    return torch.randn(shape, generator=gen) / math.sqrt(shape[-1])


def seeded_model(cfg: T2SConfig = TINY_CONFIG, seed: int = 0, eos_bias: float = 0.0) -> T2SModel:
    """A :class:`T2SModel` in eval mode holding :func:`seeded_state_dict` weights."""
    model = T2SModel(cfg)
    model.load_state_dict(seeded_state_dict(cfg, seed, eos_bias), strict=True)
    return model.eval()


def seeded_request(
    n_phones: int, n_prompt: int, input_seed: int, cfg: T2SConfig = TINY_CONFIG, **sampling: float | int
) -> T2SRequest:
    """A request with random phones, BERT features and (if ``n_prompt > 0``) prompt codes from ``input_seed``.

    ``sampling`` sets :class:`T2SRequest` fields (``seed``, ``top_k``, ``top_p``, ``temperature``,
    ``repetition_penalty``).
    """
    gen = torch.Generator().manual_seed(input_seed)
    phones = torch.randint(0, cfg.phoneme_vocab_size, (n_phones,), generator=gen)
    bert = torch.randn(BERT_DIM, n_phones, generator=gen)
    prompt = torch.randint(0, cfg.eos, (n_prompt,), generator=gen) if n_prompt else None
    return T2SRequest(phone_ids=phones, bert=bert, prompt_codes=prompt, **sampling)

"""Per-row sampling of the next semantic token, matching upstream GPT-SoVITS ``sample()`` / ``logits_to_probs``.

Order of operations (upstream's): repetition penalty on every previous token (prompt codes included) ->
top-p -> temperature -> top-k -> softmax -> "exponential race" draw ``argmax(probs / Exp(1))``. Each row has its
own parameters and its own ``torch.Generator``, so a row draws the same random numbers alone or in a batch.

Upstream's end-of-sequence rule is kept too: during the first :data:`N_STEPS_WITHOUT_EOS` steps the EOS column
is cut off the logits (it can be neither sampled nor drawn from the random stream), and afterwards a row stops
when the sampled token *or* the arg-max of the penalised logits is EOS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


#: Upstream cuts EOS off the logits while ``step < 11`` ("predict at least ~0.4 s").
N_STEPS_WITHOUT_EOS = 11
#: Upstream divides by ``max(temperature, 1e-5)``.
MIN_TEMPERATURE = 1e-5


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings of one row.

    Attributes:
        top_k: keep the ``top_k`` largest logits (ties with the k-th kept); 0 disables.
        top_p: nucleus threshold; ``>= 1`` disables. Upstream keeps tokens whose cumulative probability is
            ``<= top_p`` (and always the best one); it does not add the token that crosses the threshold.
        temperature: logits are divided by ``max(temperature, 1e-5)``.
        repetition_penalty: previous tokens' logits are divided (positive) or multiplied (negative) by this.
        seed: seed of the row's own generator.
    """

    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    seed: int = 0


class RepetitionPenalty:
    """Penalises tokens already in a row's sequence (prompt codes and generated tokens).

    Upstream gathers the logits of previous tokens and scatters the penalised values back; duplicates get the
    same value, so this equals an element-wise rule on a "seen" mask.
    """

    def __init__(self, penalty: torch.Tensor, seen: torch.Tensor) -> None:
        self.penalty = penalty  # [B, 1] float
        self.seen = seen  # [B, V] bool

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """``[B, n]`` logits (``n`` may exclude the trailing EOS column) -> penalised copy."""
        seen = self.seen[:, : logits.shape[1]]
        penalised = torch.where(logits < 0, logits * self.penalty, logits / self.penalty)
        return torch.where(seen, penalised, logits)

    def observe(self, tokens: torch.Tensor) -> None:
        """Mark ``[B]`` newly generated tokens as seen."""
        self.seen[torch.arange(tokens.shape[0], device=tokens.device), tokens] = True

    def select(self, index: torch.Tensor) -> None:
        """Keep rows ``index``."""
        self.penalty = self.penalty[index]
        self.seen = self.seen[index]


class TopP:
    """Nucleus filter with per-row thresholds (rows with ``top_p >= 1`` untouched)."""

    def __init__(self, top_p: torch.Tensor) -> None:
        self._set(top_p)

    def _set(self, top_p: torch.Tensor) -> None:
        self.top_p = top_p  # [B, 1]
        self.active = top_p < 1.0
        self.any_active = bool(self.active.any())

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.any_active:
            return logits
        sorted_logits, sorted_index = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
        remove_sorted = cumulative > self.top_p
        remove_sorted[:, 0] = False
        remove_sorted &= self.active
        remove = remove_sorted.scatter(1, sorted_index, remove_sorted)
        return logits.masked_fill(remove, float("-inf"))

    def select(self, index: torch.Tensor) -> None:
        self._set(self.top_p[index])


class Temperature:
    """Divides logits by a per-row ``max(temperature, 1e-5)``."""

    def __init__(self, temperature: torch.Tensor) -> None:
        self.temperature = temperature.clamp_min(MIN_TEMPERATURE)  # [B, 1]

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature

    def select(self, index: torch.Tensor) -> None:
        self.temperature = self.temperature[index]


class TopK:
    """Keeps logits ``>=`` the row's k-th largest (upstream ``torch.where(logits < pivot, -inf, logits)``)."""

    def __init__(self, top_k: torch.Tensor) -> None:
        self._set(top_k)

    def _set(self, top_k: torch.Tensor) -> None:
        self.top_k = top_k  # [B] long, 0 = off
        self.max_k = int(top_k.max()) if top_k.numel() else 0

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self.max_k == 0:
            return logits
        k = min(self.max_k, logits.shape[1])
        values = torch.topk(logits, k, dim=-1).values
        pivot_index = (self.top_k.clamp(1, k) - 1).unsqueeze(1)
        pivot = values.gather(1, pivot_index)
        pivot = pivot.masked_fill((self.top_k == 0).unsqueeze(1), float("-inf"))
        return torch.where(logits < pivot, float("-inf"), logits)

    def select(self, index: torch.Tensor) -> None:
        self._set(self.top_k[index])


class RowSampler:
    """Draws the next token for every live row, each with its own settings and generator.

    Args:
        params: one :class:`SamplingParams` per row.
        prompts: per row, the previous tokens (prompt codes) as a LongTensor ``[P]`` or ``None``.
        vocab_size: logits width (semantic codes + EOS).
        eos: EOS id (the last column).
        device: where logits live.
    """

    def __init__(
        self,
        params: Sequence[SamplingParams],
        prompts: Sequence[torch.Tensor | None],
        vocab_size: int,
        eos: int,
        device: torch.device,
    ) -> None:
        def column(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32, device=device).unsqueeze(1)

        seen = torch.zeros(len(params), vocab_size, dtype=torch.bool, device=device)
        for row, prompt in enumerate(prompts):
            if prompt is not None and prompt.numel():
                seen[row, prompt.to(device=device, dtype=torch.long)] = True
        self.eos = eos
        self.penalty = RepetitionPenalty(column([p.repetition_penalty for p in params]), seen)
        self.top_p = TopP(column([p.top_p for p in params]))
        self.temperature = Temperature(column([p.temperature for p in params]))
        self.top_k = TopK(torch.tensor([p.top_k for p in params], dtype=torch.long, device=device))
        self.generators = [torch.Generator(device=device).manual_seed(p.seed) for p in params]

    def step(self, logits: torch.Tensor, allow_eos: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sample one token per row.

        Args:
            logits: ``[B, vocab_size]`` float32.
            allow_eos: ``False`` during the first :data:`N_STEPS_WITHOUT_EOS` steps (EOS column removed).

        Returns:
            ``(tokens [B] long, stop [B] bool)``; ``stop`` is ``None`` when EOS is not allowed, else True where the
            sampled token or the arg-max of the penalised logits is EOS.
        """
        if not allow_eos:
            logits = logits[:, : self.eos]
        penalised = self.penalty(logits)
        filtered = self.top_k(self.temperature(self.top_p(penalised)))
        probs = torch.softmax(filtered, dim=-1)
        tokens = self._draw(probs)
        self.penalty.observe(tokens)
        if not allow_eos:
            return tokens, None
        return tokens, (tokens == self.eos) | (penalised.argmax(dim=-1) == self.eos)

    def _draw(self, probs: torch.Tensor) -> torch.Tensor:
        """``argmax(probs / q)`` with ``q ~ Exp(1)`` drawn from each row's generator (upstream's sampler)."""
        n_columns = probs.shape[1]
        noise = torch.stack(
            [
                torch.empty(n_columns, dtype=probs.dtype, device=probs.device).exponential_(1.0, generator=gen)
                for gen in self.generators
            ]
        )
        return torch.argmax(probs / noise, dim=-1)

    def select(self, index: torch.Tensor, rows: Sequence[int]) -> None:
        """Keep rows ``index`` (device LongTensor) whose positions are also given as ``rows`` (host ints)."""
        self.penalty.select(index)
        self.top_p.select(index)
        self.temperature.select(index)
        self.top_k.select(index)
        self.generators = [self.generators[row] for row in rows]

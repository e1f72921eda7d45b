"""Batched autoregressive generation of semantic tokens (upstream ``infer_panel`` semantics, many voices at once).

Rows may differ in text length, prompt length (or have no prompt at all: reference-free) and sampling settings.
A row's tokens do not depend on the other rows in its batch: each row has its own positions, masks and random
generator (see :mod:`sovits_core.t2s.batch` and :mod:`sovits_core.t2s.sampling`). Rows that finish leave the
batch, shrinking the key/value cache, so the remaining rows decode at the cost of a smaller batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from sovits_core.t2s.batch import attention_mask, key_mask, layout_prefixes, pad_prefixes
from sovits_core.t2s.config import BERT_DIM, T2SConfig
from sovits_core.t2s.model import T2SModel
from sovits_core.t2s.sampling import N_STEPS_WITHOUT_EOS, RowSampler, SamplingParams


logger = logging.getLogger(__name__)

_CACHE_CHUNK = 256  # columns added to the key/value cache at a time
_SEED_MIN, _SEED_MAX = -(2**63), 2**64 - 1  # torch.Generator.manual_seed's range


@dataclass(frozen=True)
class T2SRequest:
    """One row to decode.

    Attributes:
        phone_ids: ``[T]`` LongTensor, prompt phones followed by target phones (upstream ``phones1 + phones2``);
            target phones only when reference-free.
        bert: ``[1024, T]`` per-phone BERT features, concatenated the same way.
        prompt_codes: ``[P]`` semantic codes of the reference audio, or ``None`` (reference-free; an empty tensor
            means the same).
        seed: seed of this row's own random generator.
        top_k: keep the ``top_k`` best tokens (0 disables; upstream requires >= 1).
        top_p: nucleus threshold (``>= 1`` disables).
        temperature: softmax temperature (``> 0``).
        repetition_penalty: penalty on tokens already in the sequence, prompt included (``1`` disables).
    """

    # fields with defaults, like every frozen config here: the same shape, not the same code
    phone_ids: torch.Tensor
    bert: torch.Tensor
    prompt_codes: torch.Tensor | None = None
    seed: int = 0
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35

    def __post_init__(self) -> None:
        if self.phone_ids.ndim != 1 or self.phone_ids.numel() == 0 or self.phone_ids.is_floating_point():
            raise ValueError(
                f"T2SRequest.phone_ids must be a non-empty 1-D integer tensor, got {_desc(self.phone_ids)}"
            )
        if self.bert.ndim != 2 or tuple(self.bert.shape) != (BERT_DIM, self.phone_ids.numel()):
            raise ValueError(
                f"T2SRequest.bert must be [{BERT_DIM}, {self.phone_ids.numel()}] (one column per phone), "
                f"got {_desc(self.bert)}"
            )
        codes = self.prompt_codes
        if codes is not None and (codes.ndim != 1 or codes.is_floating_point()):
            raise ValueError(f"T2SRequest.prompt_codes must be a 1-D integer tensor or None, got {_desc(codes)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not _SEED_MIN <= self.seed <= _SEED_MAX:
            raise ValueError(f"T2SRequest.seed must be an int in [-2**63, 2**64), got {self.seed!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"T2SRequest.top_k must be an int >= 0, got {self.top_k!r}")
        if not self.top_p > 0:
            raise ValueError(f"T2SRequest.top_p must be > 0, got {self.top_p!r}")
        if not self.temperature > 0:
            raise ValueError(f"T2SRequest.temperature must be > 0, got {self.temperature!r}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"T2SRequest.repetition_penalty must be > 0, got {self.repetition_penalty!r}")

    @property
    def sampling(self) -> SamplingParams:
        """This row's sampling settings."""
        return SamplingParams(
            self.top_k, float(self.top_p), float(self.temperature), float(self.repetition_penalty), self.seed
        )

    @property
    def has_prompt(self) -> bool:
        """False for a reference-free row."""
        return self.prompt_codes is not None and self.prompt_codes.numel() > 0


@dataclass(frozen=True)
class GenerateOptions:
    """Decoding settings shared by a batch.

    Attributes:
        max_new_tokens: most tokens a row may generate; ``None`` = the model's
            :attr:`T2SConfig.default_max_new_tokens` (``min(50 * max_sec, 1500)``, upstream's effective cap).
        early_stop_num: upstream's ``early_stop_num``: stop once a row has generated *more* than this many tokens
            (keeping ``early_stop_num + 1``); ``None`` or -1 disables. Upstream passes ``50 * max_sec``.
        use_kv_cache: decode with the key/value cache (``False`` recomputes the whole sequence every step; slow,
            for checking).
    """

    max_new_tokens: int | None = None
    early_stop_num: int | None = None
    use_kv_cache: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"GenerateOptions.max_new_tokens must be >= 1 or None, got {self.max_new_tokens!r}")
        if self.early_stop_num is not None and self.early_stop_num < -1:
            raise ValueError(f"GenerateOptions.early_stop_num must be >= -1 or None, got {self.early_stop_num!r}")

    def token_limit(self, cfg: T2SConfig) -> int:
        """Most tokens a row can get under these options."""
        limit = cfg.default_max_new_tokens if self.max_new_tokens is None else self.max_new_tokens
        if self.early_stop_num is not None and self.early_stop_num != -1:
            limit = min(limit, self.early_stop_num + 1)
        return limit


@dataclass(frozen=True)
class T2SOutput:
    """Result of one row.

    Attributes:
        tokens: ``[N]`` LongTensor on the model's device: generated codes only (no prompt, no EOS).
        stop_reason: ``"eos"`` (the model ended it) or ``"max_len"`` (the length cap did).
    """

    tokens: torch.Tensor
    stop_reason: str


@torch.inference_mode()
def generate(model: T2SModel, requests: list[T2SRequest], options: GenerateOptions | None = None) -> list[T2SOutput]:
    """Decode semantic tokens for a batch of rows; one :class:`T2SOutput` per request, in order.

    Device and dtype follow the model's parameters; inputs are moved there.

    Raises:
        ValueError: a request does not fit the model (ids out of range), naming the request index.
    """
    options = options or GenerateOptions()
    if not requests:
        return []
    for index, request in enumerate(requests):
        _check_fits(request, model.config, index)
    return _BatchDecoder(model, requests, options.token_limit(model.config), options.use_kv_cache).run()


class _BatchDecoder:
    """State of one batched decode: live rows, their padding, cache (or full inputs) and sampler.

    With the cache, every row's prefix is run on its own (no padding, exactly the computation it would get
    alone) and copied into the left-padded batch cache; only the per-token decoding steps are batched. Without
    the cache, the padded batch is recomputed in full every step under :func:`attention_mask`.
    """

    def __init__(self, model: T2SModel, requests: list[T2SRequest], limit: int, use_cache: bool) -> None:
        self.model = model
        self.limit = limit
        self.device = model.ar_predict_layer.weight.device
        prompts = [r.prompt_codes.to(self.device) if r.has_prompt else None for r in requests]
        self.prefixes = [
            model.embed_prefix(r.phone_ids.to(self.device), r.bert.to(self.device), prompt)
            for r, prompt in zip(requests, prompts, strict=True)
        ]
        layout = layout_prefixes(
            [r.phone_ids.numel() for r in requests], [r.prompt_codes.numel() if r.has_prompt else 0 for r in requests]
        )
        # Whole padded sequence so far, for decoding without the cache only.
        self.inputs = None if use_cache else pad_prefixes(self.prefixes, layout)
        self.pad, self.n_text, self.n_prompt = layout.pad, layout.n_text, layout.n_prompt
        self.rows = list(range(len(requests)))  # request index of each live row
        self._refresh_row_tensors()
        cfg = model.config
        self.sampler = RowSampler([r.sampling for r in requests], prompts, cfg.vocab_size, cfg.eos, self.device)
        self.tokens = torch.zeros(len(requests), limit, dtype=torch.long, device=self.device)
        self.results: list[T2SOutput | None] = [None] * len(requests)
        self.cache = (
            model.new_cache(len(requests), layout.length + min(limit, _CACHE_CHUNK), layout.length + limit)
            if use_cache
            else None
        )

    def run(self) -> list[T2SOutput]:
        hidden = self._forward_prefix()
        self.prefixes = []
        for step in range(self.limit):
            logits = self.model.logits(hidden).float()
            tokens, eos = self.sampler.step(logits, allow_eos=step >= N_STEPS_WITHOUT_EOS)
            self.tokens[self.row_index, step] = tokens
            finished = self._collect_finished(step, eos)
            if len(finished) == len(self.rows):
                break
            if finished:
                tokens = self._drop_rows(finished, tokens)
            hidden = self._forward_step(tokens, step)
        results = [result for result in self.results if result is not None]
        if len(results) != len(self.results):  # pragma: no cover - the loop always finishes every row
            raise RuntimeError("T2S decoding ended with unfinished rows")
        return results

    def _refresh_row_tensors(self) -> None:
        self.row_index = torch.tensor(self.rows, dtype=torch.long, device=self.device)
        self.pad_t = torch.tensor(self.pad, dtype=torch.long, device=self.device)
        self.n_text_t = torch.tensor(self.n_text, dtype=torch.long, device=self.device)
        self.n_prompt_t = torch.tensor(self.n_prompt, dtype=torch.long, device=self.device)

    def _forward_prefix(self) -> torch.Tensor:
        """Run the prefixes; returns the hidden state of each row's last prefix column ``[B, D]``."""
        if self.cache is None:
            mask = attention_mask(self.pad_t, self.n_text_t, self.inputs.shape[1])
            return self.model(self.inputs, mask, None)[:, -1]
        last = []
        for row, prefix in enumerate(self.prefixes):
            length = prefix.shape[0]
            row_cache = self.model.new_cache(1, length, length)
            mask = attention_mask(self.pad_t.new_zeros(1), self.n_text_t[row : row + 1], length)
            last.append(self.model(prefix.unsqueeze(0), mask, row_cache)[0, -1])
            self.cache.put_row(row, self.pad[row], row_cache)
        self.cache.advance(self.pad[0] + self.prefixes[0].shape[0])
        return torch.stack(last)

    def _forward_step(self, tokens: torch.Tensor, step: int) -> torch.Tensor:
        """Feed the tokens sampled at ``step`` and return the next hidden state per row ``[B, D]``."""
        x = self.model.embed_audio_step(tokens, self.n_prompt_t + step, max(self.n_prompt) + step)
        if self.cache is not None:
            mask = key_mask(self.pad_t, self.cache.length + 1) if max(self.pad) > 0 else None
            return self.model(x, mask, self.cache)[:, -1]
        self.inputs = torch.cat([self.inputs, x], dim=1)
        mask = attention_mask(self.pad_t, self.n_text_t, self.inputs.shape[1])
        return self.model(self.inputs, mask, None)[:, -1]

    def _collect_finished(self, step: int, eos: torch.Tensor | None) -> list[int]:
        """Store results of rows that stop after ``step``; returns their positions in the live batch."""
        n_generated = step + 1
        eos_rows = eos.nonzero().flatten().tolist() if eos is not None and bool(eos.any()) else []
        finished = list(range(len(self.rows))) if n_generated >= self.limit else eos_rows
        for position in finished:
            row = self.rows[position]
            if position in eos_rows:
                self.results[row] = T2SOutput(self.tokens[row, :step].clone(), "eos")
            else:
                self.results[row] = T2SOutput(self.tokens[row, :n_generated].clone(), "max_len")
            logger.debug("t2s row %d stopped (%s) after %d steps", row, self.results[row].stop_reason, n_generated)
        return finished

    def _drop_rows(self, finished: list[int], tokens: torch.Tensor) -> torch.Tensor:
        """Remove finished rows from every per-row structure; returns the live rows' ``tokens``."""
        keep = [position for position in range(len(self.rows)) if position not in set(finished)]
        keep_t = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.rows = [self.rows[p] for p in keep]
        self.n_text = [self.n_text[p] for p in keep]
        self.n_prompt = [self.n_prompt[p] for p in keep]
        self.pad = [self.pad[p] for p in keep]
        self.sampler.select(keep_t, keep)
        if self.cache is not None:
            self.cache.select_rows(keep_t)
        else:
            self.inputs = self.inputs.index_select(0, keep_t)
        self._trim_common_padding()
        self._refresh_row_tensors()
        return tokens.index_select(0, keep_t)

    def _trim_common_padding(self) -> None:
        """Drop leading columns that are padding for every live row."""
        shift = min(self.pad)
        if shift == 0:
            return
        self.pad = [p - shift for p in self.pad]
        if self.cache is not None:
            self.cache.trim_left(shift)
        else:
            self.inputs = self.inputs[:, shift:]


def _check_fits(request: T2SRequest, cfg: T2SConfig, index: int) -> None:
    phones = request.phone_ids
    if int(phones.min()) < 0 or int(phones.max()) >= cfg.phoneme_vocab_size:
        raise ValueError(
            f"request {index}: phone_ids must be in [0, {cfg.phoneme_vocab_size}), "
            f"got range [{int(phones.min())}, {int(phones.max())}]"
        )
    if request.has_prompt:
        codes = request.prompt_codes
        if int(codes.min()) < 0 or int(codes.max()) >= cfg.eos:
            raise ValueError(
                f"request {index}: prompt_codes must be semantic codes in [0, {cfg.eos}), "
                f"got range [{int(codes.min())}, {int(codes.max())}]"
            )


def _desc(tensor: torch.Tensor) -> str:
    return f"{tuple(tensor.shape)} {tensor.dtype}"

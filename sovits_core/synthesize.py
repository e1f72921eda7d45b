"""Batched text-to-speech over many requests, voices mixed freely in one batch.

``synthesize(bundle, requests, options)`` runs, for every request: segmentation of long text (upstream's cut
methods) -> phonemes + BERT features per segment -> the GPT (batched across requests and voices, each row with its
own prompt, sampling settings and seed) -> SoVITS decoding (batched) -> segments joined with a short pause.
A request that fails (bad text, no phonemes) gets ``error`` set; the other requests are not affected.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from sovits_core.voice import VoiceFeatures


logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class SynthesisOptions:
    """Options shared by a whole call (per-row sampling settings live on the request)."""

    split_method: str = "cut5"
    max_segment_chars: int = 300
    merge_short_chars: int = 5  # upstream merges segments shorter than this into their neighbour
    fragment_interval: float = 0.3  # seconds of silence between segments of one request
    noise_scale: float = 0.5
    batch_size: int = 8
    max_new_tokens: int | None = None  # None: the GPT config's max_sec * hz

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.fragment_interval < 0 or self.noise_scale < 0:
            raise ValueError("fragment_interval and noise_scale must be >= 0")


@dataclass(frozen=True)
class SynthesisRequest:
    """One utterance to speak with one voice."""

    text: str
    lang: str
    voice: VoiceFeatures
    seed: int = 0
    speed: float = 1.0
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35


@dataclass
class SynthesisResult:
    """Audio (float32 mono at ``sample_rate``) or the reason there is none."""

    audio: np.ndarray
    sample_rate: int
    n_tokens: int = 0
    n_segments: int = 0
    stop_reason: str = ""
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class _Segment:
    """Internal: one segment of one request travelling through the batches."""

    request_index: int
    index: int
    phone_ids: list[int]
    bert: torch.Tensor
    tokens: torch.Tensor | None = None
    stop_reason: str = ""
    audio: np.ndarray | None = None


def segment_seed(seed: int, index: int) -> int:
    """Seed of a request's ``index``-th segment (segment 0 uses the request's seed)."""
    return (seed + index * 1_000_003) % (2**63)


def split_request_text(text: str, lang: str, options: SynthesisOptions) -> list[str]:
    """Segment texts exactly as upstream synthesises them (cut method, short-piece merging, closing punctuation)."""
    from sovits_core.text.segment import split_text

    segments = split_text(
        text, method=options.split_method, max_chars=options.max_segment_chars, lang=lang,
        min_chars=options.merge_short_chars,
    )
    return [s.text for s in segments if s.text.strip()]


def _prepare(bundle, req: SynthesisRequest, index: int, options: SynthesisOptions) -> list[_Segment]:
    from sovits_core.text import text_to_phones

    segments = []
    for i, piece in enumerate(split_request_text(req.text, req.lang, options)):
        phonemes = text_to_phones(piece, req.lang)
        if not phonemes.phone_ids:
            continue
        bert = bundle.bert.phone_features(phonemes).float().cpu()
        segments.append(_Segment(index, i, list(phonemes.phone_ids), bert))
    if not segments:
        raise ValueError("text has nothing to speak after normalisation")
    return segments


def _t2s_request(seg: _Segment, req: SynthesisRequest, device: torch.device, dtype: torch.dtype):
    from sovits_core.t2s.generate import T2SRequest

    voice = req.voice
    ids = torch.tensor(seg.phone_ids, dtype=torch.long)
    bert = seg.bert
    prompt = None
    if not voice.reference_free:
        ids = torch.cat([voice.prompt_phone_ids.long(), ids])
        bert = torch.cat([voice.prompt_bert.float(), bert], dim=1)
        prompt = voice.prompt_codes.long().to(device)
    return T2SRequest(
        phone_ids=ids.to(device),
        bert=bert.to(device, dtype),
        prompt_codes=prompt,
        seed=segment_seed(req.seed, seg.index),
        top_k=req.top_k,
        top_p=req.top_p,
        temperature=req.temperature,
        repetition_penalty=req.repetition_penalty,
    )


def _run_t2s(bundle, segments: list[_Segment], requests: list[SynthesisRequest], options: SynthesisOptions) -> None:
    from sovits_core.t2s.generate import GenerateOptions, generate

    gen_options = GenerateOptions(max_new_tokens=options.max_new_tokens)
    order = sorted(segments, key=lambda s: len(s.phone_ids))
    for start in range(0, len(order), options.batch_size):
        chunk = order[start : start + options.batch_size]
        reqs = [_t2s_request(s, requests[s.request_index], bundle.device, bundle.dtype) for s in chunk]
        for seg, out in zip(chunk, generate(bundle.t2s, reqs, gen_options), strict=True):
            seg.tokens = out.tokens.cpu()
            seg.stop_reason = out.stop_reason


def _decode_chunk(bundle, chunk: list[_Segment], requests: list[SynthesisRequest], speed: float, options) -> None:
    dev = bundle.device
    codes = _pad([s.tokens for s in chunk]).to(dev)
    phones = _pad([torch.tensor(s.phone_ids) for s in chunk]).to(dev)
    ge = torch.stack([requests[s.request_index].voice.ge for s in chunk]).to(dev, bundle.dtype)
    seeds = [segment_seed(requests[s.request_index].seed, s.index) for s in chunk]
    audio, lengths = bundle.sovits.decode(
        codes,
        torch.tensor([len(s.tokens) for s in chunk], device=dev),
        phones,
        torch.tensor([len(s.phone_ids) for s in chunk], device=dev),
        ge,
        speed=speed,
        noise_scale=options.noise_scale,
        seeds=seeds,
    )
    for seg, wav, n in zip(chunk, audio.float().cpu().numpy(), lengths.tolist(), strict=True):
        wav = wav[:n]
        peak = float(np.abs(wav).max()) if n else 0.0
        seg.audio = wav / peak if peak > 1 else wav  # upstream's guard against 16-bit overflow


def _run_sovits(bundle, segments: list[_Segment], requests: list[SynthesisRequest], options) -> None:
    by_speed: dict[float, list[_Segment]] = defaultdict(list)
    for seg in segments:
        if seg.tokens is not None and len(seg.tokens) > 0:
            by_speed[float(requests[seg.request_index].speed)].append(seg)
        else:
            seg.audio = np.zeros(0, dtype=np.float32)
    for speed, group in by_speed.items():
        group.sort(key=lambda s: len(s.tokens))
        for start in range(0, len(group), options.batch_size):
            _decode_chunk(bundle, group[start : start + options.batch_size], requests, speed, options)


def _pad(seqs: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence([s.long() for s in seqs], batch_first=True)


def _join(segments: list[_Segment], sample_rate: int, pause: float) -> np.ndarray:
    gap = np.zeros(int(sample_rate * pause), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, seg in enumerate(sorted(segments, key=lambda s: s.index)):
        if i:
            parts.append(gap)
        parts.append(seg.audio.astype(np.float32, copy=False))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _check_request(req: SynthesisRequest, fingerprint: str) -> None:
    if not isinstance(req.text, str) or not req.text.strip():
        raise ValueError("text is empty")
    if not 0.25 <= req.speed <= 4.0:
        raise ValueError(f"speed {req.speed} outside [0.25, 4]")
    if req.top_k < 1 or not 0 < req.top_p <= 1 or req.temperature <= 0 or req.repetition_penalty <= 0:
        raise ValueError("sampling settings out of range (top_k >= 1, 0 < top_p <= 1, temperature > 0, penalty > 0)")
    if req.voice.model_fingerprint != fingerprint:
        logger.warning("voice computed with model %s, synthesizing with %s", req.voice.model_fingerprint, fingerprint)


@torch.inference_mode()
def synthesize(bundle, requests: list[SynthesisRequest], options: SynthesisOptions | None = None) -> list[SynthesisResult]:
    """Synthesize every request; results come back in request order (see module docstring)."""
    options = options or SynthesisOptions()
    sr = bundle.sample_rate
    results = [SynthesisResult(np.zeros(0, dtype=np.float32), sr) for _ in requests]
    segments: list[_Segment] = []
    t0 = time.perf_counter()
    for i, req in enumerate(requests):
        try:
            _check_request(req, bundle.fingerprint)
            segments.extend(_prepare(bundle, req, i, options))
        except (ValueError, KeyError, IndexError) as exc:  # text errors are ValueError subclasses
            results[i].error = f"{type(exc).__name__}: {exc}"
    t1 = time.perf_counter()
    _run_t2s(bundle, segments, requests, options)
    t2 = time.perf_counter()
    _run_sovits(bundle, segments, requests, options)
    t3 = time.perf_counter()
    _assemble(results, segments, options, sr, (t1 - t0, t2 - t1, t3 - t2))
    return results


def _assemble(results, segments, options, sample_rate, stage_times) -> None:
    by_request: dict[int, list[_Segment]] = defaultdict(list)
    for seg in segments:
        by_request[seg.request_index].append(seg)
    total = max(1, len(segments))
    for i, segs in by_request.items():
        res = results[i]
        res.audio = _join(segs, sample_rate, options.fragment_interval)
        res.n_segments = len(segs)
        res.n_tokens = sum(len(s.tokens) for s in segs if s.tokens is not None)
        reasons = {s.stop_reason for s in segs}
        res.stop_reason = "max_len" if "max_len" in reasons else "eos"
        share = len(segs) / total
        res.timings = {k: round(v * share, 6) for k, v in zip(("text", "t2s", "sovits"), stage_times, strict=True)}
        if res.n_tokens == 0:
            res.error = "the model produced no semantic tokens"

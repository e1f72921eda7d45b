"""Batched text-to-speech over many requests, voices mixed freely in one batch.

``synthesize(bundle, requests, options)`` runs, for every request: segmentation of long text (upstream's cut
methods) -> phonemes + BERT features per segment -> the GPT (batched across requests and voices, each row with its
own prompt, sampling settings and seed) -> SoVITS decoding (batched by length, each row at its own speed) ->
segments joined with a pause that depends on the boundary after each segment (clause, sentence, paragraph).

A request with bad data (text the frontend cannot read, settings out of range) gets ``error`` and ``exception`` set;
the other requests are not affected. Anything else (out of memory, a bug) propagates out of ``synthesize``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from sovits_core.text import Boundary, TextError
from sovits_core.voice import VoiceFeatures


if TYPE_CHECKING:
    from sovits_core.bundle import TTSBundle
    from sovits_core.t2s.generate import T2SRequest
    from sovits_core.text import Phonemes, Segment


logger = logging.getLogger(__name__)

__all__ = [
    "Boundary",
    "NoTokensError",
    "RequestError",
    "SegmentInfo",
    "SynthesisOptions",
    "SynthesisRequest",
    "SynthesisResult",
    "synthesize",
]


class RequestError(ValueError):
    """A request's own settings are unusable (empty text, speed or sampling settings out of range)."""


class NoTokensError(RuntimeError):
    """The GPT produced no semantic tokens for any segment of a request, so there is nothing to decode."""


@dataclass(frozen=True)
class SynthesisOptions:
    """Options shared by a whole call (per-row sampling settings live on the request).

    The three pauses are the seconds of silence put after a segment, chosen by the boundary after it
    (:class:`Boundary`); nothing follows a request's last segment.
    """

    split_method: str = "cut5"
    max_segment_chars: int = 300
    merge_short_chars: int = 5  # upstream merges segments shorter than this into their neighbour
    pause_clause: float = 0.3  # after a segment that ends a clause (cut at a comma, or at a length cap)
    pause_sentence: float = 0.3  # after a segment that ends a sentence
    pause_paragraph: float = 0.3  # after a segment that ends a paragraph (a new line of the text)
    noise_scale: float = 0.5
    batch_size: int = 8
    max_new_tokens: int | None = None  # None: the GPT config's max_sec * hz

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        for name in ("pause_clause", "pause_sentence", "pause_paragraph", "noise_scale"):
            value = getattr(self, name)
            if not value >= 0:  # also refuses NaN
                raise ValueError(f"{name} must be >= 0, got {value!r}")

    def pause(self, boundary: Boundary) -> float:
        """Seconds of silence after a segment that ends at ``boundary``."""
        return {
            Boundary.CLAUSE: self.pause_clause,
            Boundary.SENTENCE: self.pause_sentence,
            Boundary.PARAGRAPH: self.pause_paragraph,
        }[boundary]


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


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a request as synthesised: its text, sizes, and where it lies in the joined audio.

    Attributes:
        text: the segment's text (after upstream's preparation, e.g. a closing ``。`` added).
        boundary: the boundary after the segment (it chose the pause that follows it).
        n_phones: phones of the segment's text (the voice's prompt phones not included).
        n_tokens: semantic tokens the GPT generated for it.
        stop_reason: ``"eos"`` or ``"max_len"``.
        start_sample: first sample of the segment in ``SynthesisResult.audio``.
        end_sample: one past its last sample (the pause after it is not included).
        norm_text: the frontend's normalised text of the segment (the spoken form: numbers spelled out).
        tokens: the semantic tokens generated for it (25 per second of audio).
        lang: the language of most of its phones (what ``auto`` detected).
    """

    text: str
    boundary: Boundary
    n_phones: int
    n_tokens: int
    stop_reason: str
    start_sample: int
    end_sample: int
    norm_text: str = ""
    tokens: tuple[int, ...] = ()
    lang: str = ""


@dataclass
class SynthesisResult:
    """Audio (float32 mono at ``sample_rate``) or the reason there is none (``error``, ``exception``)."""

    audio: np.ndarray
    sample_rate: int
    n_tokens: int = 0
    n_segments: int = 0
    stop_reason: str = ""
    error: str | None = None  # human-readable: "ExceptionType: message"
    timings: dict[str, float] = field(default_factory=dict)
    segments: tuple[SegmentInfo, ...] = ()
    exception: Exception | None = None  # what made the request fail; classify failures by its type

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def fail(self, exc: Exception) -> None:
        """Mark the request failed by ``exc``."""
        self.error = f"{type(exc).__name__}: {exc}"
        self.exception = exc


@dataclass
class _Segment:
    """Internal: one segment of one request travelling through the batches."""

    request_index: int
    index: int
    text: str
    boundary: Boundary
    phone_ids: list[int]
    bert: torch.Tensor
    norm_text: str = ""
    lang: str = ""
    tokens: torch.Tensor | None = None
    stop_reason: str = ""
    audio: np.ndarray | None = None


def _main_lang(phonemes: Phonemes) -> str:
    """The language of most of a segment's phones (what "auto" detected)."""
    weights: dict[str, int] = defaultdict(int)
    for part in phonemes.parts:
        weights[part.lang] += len(part.phone_ids)
    return max(weights, key=weights.__getitem__) if weights else ""


def segment_seed(seed: int, index: int) -> int:
    """Seed of a request's ``index``-th segment (segment 0 uses the request's seed)."""
    return (seed + index * 1_000_003) % (2**63)


def request_segments(text: str, lang: str, options: SynthesisOptions) -> list[Segment]:
    """Segments exactly as upstream synthesises them (cut method, short-piece merging, closing punctuation)."""
    from sovits_core.text import split_text

    segments = split_text(
        text,
        method=options.split_method,
        max_chars=options.max_segment_chars,
        lang=lang,
        min_chars=options.merge_short_chars,
    )
    return [s for s in segments if s.text.strip()]


def split_request_text(text: str, lang: str, options: SynthesisOptions) -> list[str]:
    """The texts of :func:`request_segments`."""
    return [s.text for s in request_segments(text, lang, options)]


def _prepare(bundle: TTSBundle, req: SynthesisRequest, index: int, options: SynthesisOptions) -> list[_Segment]:
    from sovits_core.text import text_to_phones

    segments: list[_Segment] = []
    for i, piece in enumerate(request_segments(req.text, req.lang, options)):
        phonemes = text_to_phones(piece.text, req.lang)
        if not phonemes.phone_ids:
            if segments:  # the dropped segment's boundary still separates its neighbours
                segments[-1].boundary = segments[-1].boundary.stronger(piece.boundary)
            continue
        bert = bundle.bert.phone_features(phonemes).float().cpu()
        segment = _Segment(index, i, piece.text, piece.boundary, list(phonemes.phone_ids), bert, phonemes.norm_text,
                           _main_lang(phonemes))  # fmt: skip
        segments.append(segment)
    if not segments:
        raise TextError("text has nothing to speak after normalisation")
    return segments


def _t2s_request(seg: _Segment, req: SynthesisRequest, device: torch.device, dtype: torch.dtype) -> T2SRequest:
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


def _run_t2s(
    bundle: TTSBundle, segments: list[_Segment], requests: list[SynthesisRequest], options: SynthesisOptions
) -> None:
    from sovits_core.t2s.generate import GenerateOptions, generate

    gen_options = GenerateOptions(max_new_tokens=options.max_new_tokens)
    order = sorted(segments, key=lambda s: len(s.phone_ids))
    for start in range(0, len(order), options.batch_size):
        chunk = order[start : start + options.batch_size]
        reqs = [_t2s_request(s, requests[s.request_index], bundle.device, bundle.dtype) for s in chunk]
        for seg, out in zip(chunk, generate(bundle.t2s, reqs, gen_options), strict=True):
            seg.tokens = out.tokens.cpu()
            seg.stop_reason = out.stop_reason


def _decode_chunk(
    bundle: TTSBundle, chunk: list[_Segment], requests: list[SynthesisRequest], options: SynthesisOptions
) -> None:
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
        speed=[float(requests[s.request_index].speed) for s in chunk],
        noise_scale=options.noise_scale,
        seeds=seeds,
    )
    for seg, wav, n in zip(chunk, audio.float().cpu().numpy(), lengths.tolist(), strict=True):
        wav = wav[:n]
        peak = float(np.abs(wav).max()) if n else 0.0
        seg.audio = wav / peak if peak > 1 else wav  # upstream's guard against 16-bit overflow


def _run_sovits(
    bundle: TTSBundle, segments: list[_Segment], requests: list[SynthesisRequest], options: SynthesisOptions
) -> None:
    """Decode in batches of similar length; speeds may differ within a batch (one per row)."""
    todo = []
    for seg in segments:
        if seg.tokens is not None and len(seg.tokens) > 0:
            todo.append(seg)
        else:
            seg.audio = np.zeros(0, dtype=np.float32)
    todo.sort(key=lambda s: len(s.tokens))
    for start in range(0, len(todo), options.batch_size):
        _decode_chunk(bundle, todo[start : start + options.batch_size], requests, options)


def _pad(seqs: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence([s.long() for s in seqs], batch_first=True)


def _join(
    segments: list[_Segment], sample_rate: int, options: SynthesisOptions
) -> tuple[np.ndarray, tuple[SegmentInfo, ...]]:
    """One request's segments in text order, each followed by the pause for its boundary (none after the last)."""
    parts: list[np.ndarray] = []
    infos: list[SegmentInfo] = []
    position = 0
    ordered = sorted(segments, key=lambda s: s.index)
    for i, seg in enumerate(ordered):
        if i:
            gap = np.zeros(int(sample_rate * options.pause(ordered[i - 1].boundary)), dtype=np.float32)
            parts.append(gap)
            position += len(gap)
        audio = seg.audio.astype(np.float32, copy=False)
        parts.append(audio)
        n_tokens = 0 if seg.tokens is None else len(seg.tokens)
        tokens = tuple(seg.tokens.tolist()) if seg.tokens is not None else ()
        info = SegmentInfo(seg.text, seg.boundary, len(seg.phone_ids), n_tokens, seg.stop_reason, position,
                           position + len(audio), seg.norm_text, tokens, seg.lang)  # fmt: skip
        infos.append(info)
        position += len(audio)
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return audio, tuple(infos)


def _check_request(req: SynthesisRequest, fingerprint: str) -> None:
    if not isinstance(req.text, str) or not req.text.strip():
        raise RequestError("text is empty")
    if not 0.25 <= req.speed <= 4.0:
        raise RequestError(f"speed {req.speed} outside [0.25, 4]")
    if req.top_k < 1 or not 0 < req.top_p <= 1 or req.temperature <= 0 or req.repetition_penalty <= 0:
        raise RequestError("sampling settings out of range (top_k >= 1, 0 < top_p <= 1, temperature > 0, penalty > 0)")
    if req.voice.model_fingerprint != fingerprint:
        logger.warning("voice computed with model %s, synthesizing with %s", req.voice.model_fingerprint, fingerprint)


@torch.inference_mode()
def synthesize(
    bundle: TTSBundle, requests: list[SynthesisRequest], options: SynthesisOptions | None = None
) -> list[SynthesisResult]:
    """Synthesize every request; results come back in request order (see module docstring).

    Raises:
        Exception: anything but a request's data error (:class:`TextError`, :class:`RequestError`), e.g.
            ``torch.OutOfMemoryError``: one row's bad data never fails the batch, but nothing else is hidden.
    """
    options = options or SynthesisOptions()
    sr = bundle.sample_rate
    results = [SynthesisResult(np.zeros(0, dtype=np.float32), sr) for _ in requests]
    segments: list[_Segment] = []
    t0 = time.perf_counter()
    for i, req in enumerate(requests):
        try:
            _check_request(req, bundle.fingerprint)
            segments.extend(_prepare(bundle, req, i, options))
        except (TextError, RequestError) as exc:  # TextError includes MissingLanguageSupport
            results[i].fail(exc)
    t1 = time.perf_counter()
    _run_t2s(bundle, segments, requests, options)
    t2 = time.perf_counter()
    _run_sovits(bundle, segments, requests, options)
    t3 = time.perf_counter()
    _assemble(results, segments, options, sr, (t1 - t0, t2 - t1, t3 - t2))
    return results


def _assemble(
    results: list[SynthesisResult],
    segments: list[_Segment],
    options: SynthesisOptions,
    sample_rate: int,
    stage_times: tuple[float, float, float],
) -> None:
    by_request: dict[int, list[_Segment]] = defaultdict(list)
    for seg in segments:
        by_request[seg.request_index].append(seg)
    total = max(1, len(segments))
    for i, segs in by_request.items():
        res = results[i]
        res.audio, res.segments = _join(segs, sample_rate, options)
        res.n_segments = len(segs)
        res.n_tokens = sum(info.n_tokens for info in res.segments)
        reasons = {s.stop_reason for s in segs}
        res.stop_reason = "max_len" if "max_len" in reasons else "eos"
        share = len(segs) / total
        res.timings = {k: round(v * share, 6) for k, v in zip(("text", "t2s", "sovits"), stage_times, strict=True)}
        if res.n_tokens == 0:
            res.fail(NoTokensError("the model produced no semantic tokens"))

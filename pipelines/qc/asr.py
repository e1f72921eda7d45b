"""ASR round trip for quality control: transcribe synthesized audio, compare with the text that was meant to be spoken.

Backends (:func:`load_asr` names them) share one small interface, :class:`ASRBackend`: ``transcribe(items)`` takes a
batch of ``(mono float32 audio, sample rate, language)`` and returns one transcript per item; each backend resamples
to its own rate (16 kHz for all four here) with ``soxr``. Every backend also has a ``languages`` attribute (the codes
among :data:`ASR_LANGUAGES` it can transcribe) and raises :class:`ASRLanguageError` for any other language in a batch,
before decoding anything — a caller that mixes languages should route items by ``backend.languages``.

- ``whisper``: a Hugging Face Whisper folder through ``transformers`` (batched, greedy, language forced per item);
- ``faster-whisper``: a CTranslate2 faster-whisper folder (optional ``faster-whisper`` package, one item per call);
- ``funasr``: a FunASR / Paraformer / SenseVoice folder (optional ``funasr`` package);
- ``pocketsphinx``: the English model bundled in the ``pocketsphinx`` wheel (no model folder; English only).

Scoring (:func:`score`) normalises both sides with :func:`normalize_for_scoring` and counts substitutions,
deletions and insertions with ``jiwer``: a swallowed word shows as deletions, a repeated phrase or babble as
insertions. Units are characters for zh, ja, ko, yue and words otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import soxr


__all__ = [
    "ASR_BACKENDS",
    "ASR_LANGUAGES",
    "ASR_SAMPLE_RATE",
    "CHAR_LANGUAGES",
    "ASRBackend",
    "ASRDependencyError",
    "ASRLanguageError",
    "ASRModelError",
    "ASRScore",
    "PocketSphinxBackend",
    "WhisperBackend",
    "load_asr",
    "normalize_for_scoring",
    "score",
    "scoring_unit",
]

from pipelines.qc.scoring import CHAR_LANGUAGES, ASRScore, normalize_for_scoring, score, scoring_unit


logger = logging.getLogger(__name__)

ASR_LANGUAGES = ("zh", "en", "ja", "ko", "yue")
ASR_BACKENDS = ("whisper", "funasr", "faster-whisper", "pocketsphinx")
ASR_SAMPLE_RATE = 16000  # what every backend here decodes
WHISPER_WINDOW_SECONDS = 30  # longer audio goes through transformers' sequential long-form decoding
# Wider than pocketsphinx's defaults (1e-48, 7e-29, 1e-48): ~1.6x slower, markedly fewer errors on synthetic speech.
SPHINX_SEARCH = {"beam": 1e-60, "wbeam": 1e-40, "pbeam": 1e-60}

Item = tuple[np.ndarray, int, str]


class ASRModelError(ValueError):
    """An ASR model cannot be used: unknown backend, missing or incomplete folder, weights that fail to load."""


class ASRDependencyError(ASRModelError, ImportError):
    """The Python package a backend needs is not installed (the message names the pip package)."""


class ASRLanguageError(ValueError):
    """A batch holds a language the backend cannot transcribe (see the backend's ``languages``)."""


class ASRBackend(Protocol):
    """What the QC stage needs from a speech recogniser."""

    name: str

    def transcribe(self, items: Sequence[Item]) -> list[str]:
        """Transcribe a batch.

        Args:
            items: ``(audio, sample_rate, language)``: mono float32 samples in [-1, 1] of shape [N], their rate in Hz,
                and a code among :data:`ASR_LANGUAGES`.

        Returns:
            One transcript per item, in order ("" for empty audio).
        """
        ...


# ---------------------------------------------------------------------------------------------------- helpers
def _to_mono_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Float32 mono samples at :data:`ASR_SAMPLE_RATE` (``[N, C]`` is averaged over channels)."""
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"ASR input must be mono audio of shape [N] (or [N, C]), got shape {samples.shape}")
    if sample_rate != ASR_SAMPLE_RATE and samples.size:
        samples = soxr.resample(samples, sample_rate, ASR_SAMPLE_RATE).astype(np.float32, copy=False)
    return samples


def _prepare(items: Sequence[Item], languages: frozenset[str], backend: str) -> list[tuple[np.ndarray, str]]:
    """Check every item's language against ``languages``, then resample: ``[(audio_16k, language), ...]``."""
    for index, (_, _, lang) in enumerate(items):
        if lang not in languages:
            supported = ", ".join(sorted(languages))
            raise ASRLanguageError(
                f"{backend} cannot transcribe language {lang!r} (item {index}); it supports: {supported}"
            )
    return [(_to_mono_16k(audio, rate), lang) for audio, rate, lang in items]


def _require_folder(model_dir: str | Path | None, backend: str, required: Sequence[tuple[str, ...]]) -> Path:
    """The model folder as a Path, or :class:`ASRModelError` naming what is missing.

    Args:
        model_dir: the folder given by the user.
        backend: backend name, for messages.
        required: groups of file names; each group needs at least one of its names present.
    """
    if model_dir is None:
        raise ASRModelError(f"the {backend} ASR backend needs a model folder (model_dir is None)")
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise ASRModelError(f"{backend} model folder {folder} does not exist or is not a folder")
    missing = [" or ".join(group) for group in required if not any((folder / name).is_file() for name in group)]
    if missing:
        raise ASRModelError(f"{backend} model folder {folder} is incomplete: missing {'; '.join(missing)}")
    return folder


def _import_optional(module: str, package: str, backend: str) -> ModuleType:
    """Import ``module`` or raise :class:`ASRDependencyError` telling which pip package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ASRDependencyError(
            f"the {backend} ASR backend needs the '{package}' package, which is not installed (pip install {package})"
        ) from exc


def _first_line(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` (library errors can span many lines)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _split_device(device: str) -> tuple[str, int]:
    """``"cuda:1"`` -> ``("cuda", 1)``; ``"cpu"`` -> ``("cpu", 0)`` (CTranslate2 takes the index apart)."""
    kind, _, index = device.partition(":")
    return kind, int(index or 0)


# ---------------------------------------------------------------------------------------------------- whisper
_WHISPER_FILES = (
    ("config.json",),
    ("preprocessor_config.json",),
    ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"),
    ("tokenizer.json", "vocab.json"),
)


class WhisperBackend:
    """A Hugging Face Whisper folder (``openai/whisper-*`` layout) run through ``transformers``, offline.

    Batches of ``batch_size`` items are decoded together, greedily, at most ``max_new_tokens`` tokens each (224, half
    the decoder context, as openai-whisper's ``sample_len``). When the folder's generation config lists language
    tokens, each item's language is forced (``<|lang|>`` + ``<|transcribe|>``); ``yue`` falls back to ``zh`` on
    checkpoints before large-v3, which have no ``<|yue|>``. English-only checkpoints (``*.en``) accept ``en`` only.
    Audio longer than 30 s goes through transformers' long-form (timestamp-driven, sequential) decoding.
    """

    name = "whisper"

    def __init__(
        self, model_dir: str | Path, device: str = "cpu", batch_size: int = 8, max_new_tokens: int = 224
    ) -> None:
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        folder = _require_folder(model_dir, self.name, _WHISPER_FILES)
        try:
            self.processor = WhisperProcessor.from_pretrained(folder, local_files_only=True)
            model = WhisperForConditionalGeneration.from_pretrained(folder, local_files_only=True)
        except (
            Exception
        ) as exc:  # corrupt JSON, truncated safetensors, wrong model type...: one clear error, cause chained
            raise ASRModelError(f"cannot load Whisper model from {folder}: {_first_line(exc)}") from exc
        self.model = model.to(device).eval()
        self.device = device
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = min(max_new_tokens, model.config.max_target_positions)
        self._codes = self._language_codes()
        self.languages = frozenset(self._codes) if self._codes else self._unforced_languages()
        logger.info("whisper ASR loaded from %s on %s (languages: %s)", folder, device, sorted(self.languages))

    def _language_codes(self) -> dict[str, str]:
        """Our language code -> the Whisper code to force, for the languages this checkpoint has tokens for."""
        lang_to_id = getattr(self.model.generation_config, "lang_to_id", None) or {}
        codes = {lang: lang for lang in ASR_LANGUAGES if f"<|{lang}|>" in lang_to_id}
        if "yue" not in codes and "zh" in codes:
            codes["yue"] = "zh"
        return codes

    def _unforced_languages(self) -> frozenset[str]:
        """Languages of a checkpoint without language tokens: English for ``*.en``, else all (not forced)."""
        if getattr(self.model.generation_config, "is_multilingual", None) is False:
            return frozenset({"en"})
        logger.warning("whisper checkpoint has no lang_to_id in its generation config: languages are not forced")
        return frozenset(ASR_LANGUAGES)

    def transcribe(self, items: Sequence[Item]) -> list[str]:
        """See :meth:`ASRBackend.transcribe`; empty audio gives "" without running the model."""
        prepared = _prepare(items, self.languages, self.name)
        texts = [""] * len(prepared)
        todo = [i for i, (audio, _) in enumerate(prepared) if audio.size]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            outputs = self._transcribe_batch([prepared[i][0] for i in chunk], [prepared[i][1] for i in chunk])
            for i, text in zip(chunk, outputs, strict=True):
                texts[i] = text
        return texts

    def _transcribe_batch(self, audios: list[np.ndarray], languages: list[str]) -> list[str]:
        """Decode one batch of 16 kHz arrays (short-form, or long-form when any is over 30 s)."""
        import torch

        long_form = max(a.size for a in audios) > WHISPER_WINDOW_SECONDS * ASR_SAMPLE_RATE
        extra = {"truncation": False, "padding": "longest"} if long_form else {}
        features = self.processor.feature_extractor(
            audios, sampling_rate=ASR_SAMPLE_RATE, return_tensors="pt", return_attention_mask=True, **extra
        )
        kwargs: dict[str, Any] = {
            "input_features": features.input_features.to(self.device, self.model.dtype),
            "attention_mask": features.attention_mask.to(self.device),
            "do_sample": False,
            "num_beams": 1,
            # Whisper's generate counts max_length after the decoder prompt (capped at max_target_positions);
            # max_new_tokens means the same but makes transformers 5 log a warning on every call.
            "max_length": self.max_new_tokens,
            "return_timestamps": long_form,  # long-form decoding is driven by predicted timestamps
        }
        if self._codes:
            kwargs.update(language=[self._codes[lang] for lang in languages], task="transcribe")
        with torch.inference_mode():
            ids = self.model.generate(**kwargs)
        return [text.strip() for text in self.processor.batch_decode(ids, skip_special_tokens=True)]


# ---------------------------------------------------------------------------------------------------- faster-whisper
class PocketSphinxBackend:
    """English ASR with the en-us acoustic model, language model and dictionary bundled in the ``pocketsphinx`` wheel.

    Offline and small, but weak (expect word error rates of 0.5+ even on clean synthetic speech): good for catching
    gross failures (silence, babble, a wrong language), not fine ones. English only: a batch with any other language
    raises :class:`ASRLanguageError` rather than returning "" (which would read as every word deleted). One decoder
    per instance, not thread-safe; items are decoded one after the other.

    Args:
        **decoder_options: pocketsphinx ``Config`` parameters overriding :data:`SPHINX_SEARCH` (e.g. ``lw=8.0``).
    """

    name = "pocketsphinx"
    languages = frozenset({"en"})

    def __init__(self, **decoder_options: Any) -> None:
        pocketsphinx = _import_optional("pocketsphinx", "pocketsphinx", self.name)
        options = {**SPHINX_SEARCH, **decoder_options}
        self._decoder = pocketsphinx.Decoder(samprate=ASR_SAMPLE_RATE, loglevel="FATAL", **options)

    def transcribe(self, items: Sequence[Item]) -> list[str]:
        """See :meth:`ASRBackend.transcribe`."""
        return [self._decode(audio) for audio, _ in _prepare(items, self.languages, self.name)]

    def _decode(self, audio: np.ndarray) -> str:
        if not audio.size:
            return ""
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, no_search=False, full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""


def load_asr(backend: str, model_dir: str | Path | None, device: str = "cpu") -> ASRBackend:
    """Build an ASR backend by name.

    Args:
        backend: one of :data:`ASR_BACKENDS`.
        model_dir: the model folder (``whisper``, ``funasr``, ``faster-whisper``); ignored by ``pocketsphinx``.
        device: ``cpu``, ``cuda``, ``cuda:1``...

    Raises:
        ASRModelError: unknown backend name, missing or incomplete model folder, or a model that fails to load.
        ASRDependencyError: the backend's package is not installed.
    """
    from pipelines.qc.asr_optional import FasterWhisperBackend, FunASRBackend

    factories: dict[str, Callable[..., ASRBackend]] = {
        "whisper": WhisperBackend,
        "faster-whisper": FasterWhisperBackend,
        "funasr": FunASRBackend,
    }
    if backend in factories:
        if model_dir is None:
            raise ASRModelError(f"the {backend} ASR backend needs a model folder (model_dir is None)")
        return factories[backend](model_dir, device=device)
    if backend == "pocketsphinx":
        if model_dir is not None:
            logger.warning("pocketsphinx uses its bundled en-us model; model_dir %s is ignored", model_dir)
        return PocketSphinxBackend()
    raise ASRModelError(f"unknown ASR backend {backend!r}; choose one of: {', '.join(ASR_BACKENDS)}")

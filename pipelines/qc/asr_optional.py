"""ASR backends for packages that are not installed with the project: faster-whisper and FunASR (optional).

Imported lazily by :func:`pipelines.qc.asr.load_asr`; each raises :class:`~pipelines.qc.asr.ASRDependencyError`
naming the pip package when it is missing. Written against those libraries' documented APIs; not run here (the
packages are not installed in CI).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipelines.qc.asr import ASR_LANGUAGES, Item, _import_optional, _prepare, _require_folder, _split_device


logger = logging.getLogger(__name__)


class FasterWhisperBackend:
    """A CTranslate2 faster-whisper folder (``model.bin``, ``config.json``, ``tokenizer.json``).

    Needs the optional ``faster-whisper`` package (written against its documented ``WhisperModel`` API; not exercised
    by this project's tests). Items are decoded one call each (faster-whisper batches the chunks of one long audio,
    not separate audios), greedily (beam 1, temperature 0, no fallback), without timestamps, language forced.
    """

    name = "faster-whisper"

    def __init__(self, model_dir: str | Path, device: str = "cpu", compute_type: str = "default") -> None:
        folder = _require_folder(model_dir, self.name, (("model.bin",), ("config.json",), ("tokenizer.json",)))
        faster_whisper = _import_optional("faster_whisper", "faster-whisper", self.name)
        kind, index = _split_device(device)
        self._model = faster_whisper.WhisperModel(
            str(folder), device=kind, device_index=index, compute_type=compute_type, local_files_only=True
        )
        self._codes = self._language_codes()
        self.languages = frozenset(self._codes)
        logger.info("faster-whisper ASR loaded from %s on %s", folder, device)

    def _language_codes(self) -> dict[str, str]:
        """Our language code -> the Whisper code to force (``yue`` -> ``zh`` without a ``<|yue|>`` token)."""
        if not self._model.model.is_multilingual:
            return {"en": "en"}
        has_yue = self._model.hf_tokenizer.token_to_id("<|yue|>") is not None
        return {lang: ("zh" if lang == "yue" and not has_yue else lang) for lang in ASR_LANGUAGES}

    def transcribe(self, items: Sequence[Item]) -> list[str]:
        """See :meth:`ASRBackend.transcribe`."""
        return [self._transcribe_one(audio, lang) for audio, lang in _prepare(items, self.languages, self.name)]

    def _transcribe_one(self, audio: np.ndarray, lang: str) -> str:
        if not audio.size:
            return ""
        segments, _ = self._model.transcribe(
            audio,
            language=self._codes[lang],
            task="transcribe",
            beam_size=1,
            best_of=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return "".join(segment.text for segment in segments).strip()


# ---------------------------------------------------------------------------------------------------- funasr
_TAG = re.compile(r"<\|[^|]*\|>")  # SenseVoice's <|zh|><|NEUTRAL|><|Speech|><|woitn|> prefixes


class FunASRBackend:
    """A local FunASR model folder (Paraformer, SenseVoice...: ``config.yaml`` + ``model.pt``) via ``AutoModel``.

    Needs the optional ``funasr`` package (written against its documented ``AutoModel(model=...).generate(input=...)``
    API; not exercised by this project's tests). No VAD or punctuation model is attached: each item is one utterance.
    Items are grouped by language and the language is passed to ``generate`` (SenseVoice uses it; Paraformer ignores
    it, it transcribes what its training covered, Mandarin for the common checkpoints). Note that FunASR itself
    pip-installs a ``requirements.txt`` found in the model folder, and on CPU it decodes one item at a time.
    """

    name = "funasr"
    languages = frozenset(ASR_LANGUAGES)

    def __init__(self, model_dir: str | Path, device: str = "cpu", batch_size: int = 8) -> None:
        folder = _require_folder(model_dir, self.name, (("config.yaml",), ("model.pt",)))
        funasr = _import_optional("funasr", "funasr", self.name)
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())  # AutoModel calls basicConfig
        self._model = funasr.AutoModel(
            model=str(folder), device=device, disable_update=True, disable_pbar=True, log_level=level
        )
        self.batch_size = max(1, batch_size)
        logger.info("funasr ASR loaded from %s on %s", folder, device)

    def transcribe(self, items: Sequence[Item]) -> list[str]:
        """See :meth:`ASRBackend.transcribe`."""
        prepared = _prepare(items, self.languages, self.name)
        texts = [""] * len(prepared)
        for lang in dict.fromkeys(lang for _, lang in prepared):
            todo = [i for i, (audio, item_lang) in enumerate(prepared) if item_lang == lang and audio.size]
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start : start + self.batch_size]
                for i, text in zip(chunk, self._generate([prepared[i][0] for i in chunk], lang), strict=True):
                    texts[i] = text
        return texts

    def _generate(self, audios: list[np.ndarray], lang: str) -> list[str]:
        results = self._model.generate(
            input=audios, batch_size=len(audios), language=lang, use_itn=False, disable_pbar=True
        )
        if len(results) != len(audios):
            raise RuntimeError(f"funasr returned {len(results)} results for {len(audios)} inputs")
        return [" ".join(_TAG.sub(" ", str(result.get("text", ""))).split()) for result in results]


# ---------------------------------------------------------------------------------------------------- pocketsphinx

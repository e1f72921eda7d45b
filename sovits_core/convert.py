"""Voice conversion and step-by-step tracing (single utterance, no batching).

Voice conversion is the text-free path: source speech -> CNHuBERT -> SoVITS semantic codes -> decode with the
target voice's ``ge``. SoVITS' text encoder still needs a phone sequence; without a transcript of the source it
gets a single pause symbol, with one (``source_text``) it gets the real phones, which helps articulation.

``trace`` runs the TTS pipeline for one short text and returns every intermediate, so a user can compare a
fine-tune with upstream step by step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from sovits_core.audio import SSL_PAD_SAMPLES, SSL_SAMPLE_RATE, prepare_reference, resample
from sovits_core.synthesize import SynthesisOptions, SynthesisRequest, segment_seed, split_request_text
from sovits_core.voice import VoiceFeatures


if TYPE_CHECKING:
    from sovits_core.bundle import TTSBundle

PAUSE_SYMBOL = "SP"


def _source_phones(source_text: str | None, lang: str) -> list[int]:
    from sovits_core.text import text_to_phones
    from sovits_core.text.symbols import SYMBOL_TO_ID

    if source_text and source_text.strip():
        ids = list(text_to_phones(source_text, lang).phone_ids)
        if ids:
            return ids
    return [SYMBOL_TO_ID[PAUSE_SYMBOL]]


@torch.inference_mode()
def convert_voice(
    bundle: TTSBundle,
    source: np.ndarray,
    sample_rate: int,
    voice: VoiceFeatures,
    source_text: str | None = None,
    lang: str = "auto",
    noise_scale: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Speak ``source`` (any rate/channels) with ``voice``'s timbre; returns float32 audio at 32 kHz."""
    clip = prepare_reference(source, sample_rate, 0, min_seconds=0.2, max_seconds=float("inf"))
    wav16 = resample(clip.wav, clip.sample_rate, SSL_SAMPLE_RATE)
    audio16 = torch.from_numpy(wav16).to(bundle.device, bundle.dtype).unsqueeze(0)
    codes = bundle.sovits.extract_latent(bundle.ssl.features(audio16).to(bundle.dtype))
    phones = torch.tensor([_source_phones(source_text, lang)], device=bundle.device)
    dev = bundle.device
    audio, lengths = bundle.sovits.decode(
        codes,
        torch.tensor([codes.shape[1]], device=dev),
        phones,
        torch.tensor([phones.shape[1]], device=dev),
        voice.ge.unsqueeze(0).to(dev, bundle.dtype),
        speed=1.0,
        noise_scale=noise_scale,
        seeds=[seed],
    )
    wav = audio[0, : int(lengths[0])].float().cpu().numpy()
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    return wav / peak if peak > 1 else wav


@torch.inference_mode()
def trace(
    bundle: TTSBundle, request: SynthesisRequest, ref_wav: np.ndarray, ref_sr: int, options: SynthesisOptions
) -> dict[str, np.ndarray]:
    """Every intermediate of one request's first segment: phones, word2ph, bert, ssl, prompt_codes, ge, semantic, audio."""
    from sovits_core.t2s.generate import GenerateOptions, T2SRequest, generate
    from sovits_core.text import text_to_phones

    voice = request.voice
    text = split_request_text(request.text, request.lang, options)[0]
    phonemes = text_to_phones(text, request.lang)
    bert = bundle.bert.phone_features(phonemes).float().cpu()
    clip = prepare_reference(ref_wav, ref_sr, 0)
    wav16 = np.concatenate(
        [resample(clip.wav, clip.sample_rate, SSL_SAMPLE_RATE), np.zeros(SSL_PAD_SAMPLES, np.float32)]
    )
    ssl = bundle.ssl.features(torch.from_numpy(wav16).to(bundle.device, bundle.dtype).unsqueeze(0))
    ids = torch.tensor(phonemes.phone_ids, dtype=torch.long)
    full_ids, full_bert = ids, bert
    if not voice.reference_free:
        full_ids = torch.cat([voice.prompt_phone_ids, ids])
        full_bert = torch.cat([voice.prompt_bert, bert], dim=1)
    t2s_req = T2SRequest(
        phone_ids=full_ids.to(bundle.device),
        bert=full_bert.to(bundle.device, bundle.dtype),
        prompt_codes=None if voice.reference_free else voice.prompt_codes.to(bundle.device),
        seed=segment_seed(request.seed, 0),
        top_k=request.top_k,
        top_p=request.top_p,
        temperature=request.temperature,
        repetition_penalty=request.repetition_penalty,
    )
    tokens = generate(bundle.t2s, [t2s_req], GenerateOptions(max_new_tokens=options.max_new_tokens))[0].tokens
    dev = bundle.device
    audio, lengths = bundle.sovits.decode(
        tokens.unsqueeze(0).to(dev),
        torch.tensor([len(tokens)], device=dev),
        ids.unsqueeze(0).to(dev),
        torch.tensor([len(ids)], device=dev),
        voice.ge.unsqueeze(0).to(dev, bundle.dtype),
        speed=request.speed,
        noise_scale=options.noise_scale,
        seeds=[segment_seed(request.seed, 0)],
    )
    word2ph = [w for part in phonemes.parts for w in (part.word2ph or ())]
    return {
        "text": np.array(text),
        "phones": np.array(phonemes.phone_ids, dtype=np.int64),
        "word2ph": np.array(word2ph, dtype=np.int64),
        "bert": bert.numpy(),
        "ssl": ssl.float().cpu().numpy(),
        "prompt_codes": np.zeros(0, np.int64) if voice.reference_free else voice.prompt_codes.numpy(),
        "ge": voice.ge.numpy(),
        "semantic": tokens.cpu().numpy(),
        "audio": audio[0, : int(lengths[0])].float().cpu().numpy(),
    }

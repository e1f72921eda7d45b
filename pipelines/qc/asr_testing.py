"""A tiny random-initialised Whisper model folder for tests of the ASR round trip (no download, a few hundred KB).

:func:`make_tiny_whisper` writes the files a real Hugging Face Whisper checkpoint has — ``config.json``,
``generation_config.json``, ``model.safetensors``, ``preprocessor_config.json`` and the tokenizer files — so that
:class:`pipelines.qc.asr.WhisperBackend` loads it through the real ``from_pretrained`` code path, offline. Its weights
are random: transcripts are garbage, but batching, language forcing and decoding are the real thing.

The tokenizer is built here: a byte-level BPE trained on a few sentences (256 byte symbols plus ~100 merges), then the
special tokens in the order of the multilingual v3 checkpoints (``<|endoftext|>``, ``<|startoftranscript|>``, the 100
language tokens of ``transformers``' ``LANGUAGES`` table, ``<|translate|>``, ``<|transcribe|>``, ``<|startoflm|>``,
``<|startofprev|>``, ``<|nospeech|>``, ``<|notimestamps|>``) and the 1501 timestamp tokens ``<|0.00|>`` ..
``<|30.00|>``. That order matters: ``WhisperTokenizer`` finds a language token at ``<|startoftranscript|>`` + 1 + its
index in ``LANGUAGES``, and timestamps right after the last special token.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperTokenizer,
)
from transformers.models.whisper.tokenization_whisper import LANGUAGES


__all__ = ["TINY_WHISPER_DIMS", "make_tiny_whisper"]

logger = logging.getLogger(__name__)

# Model sizes of the tiny checkpoint (real whisper-tiny: d_model 384, 4 + 4 layers, 6 heads).
TINY_WHISPER_DIMS: dict[str, int] = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "num_mel_bins": 80,
    "max_source_positions": 1500,  # 30 s of 10 ms mel frames after the stride-2 convolution: fixed by the features
    "max_target_positions": 448,
}
_N_MERGES = 100
_SPECIAL_LOGIT_SCALE = 0.05  # output rows of <|endoftext|> and later ids, scaled down (the model is untied for this)
_N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in steps of 0.02 s
_CORPUS = (
    "the quick brown fox jumps over the lazy dog, and the birds sing in the morning.",
    "speech synthesis quality control checks every utterance with a speech recogniser.",
    "今天天气很好。我们一起去公园散步吧。",
    "こんにちは、元気ですか。",
    "안녕하세요, 반갑습니다.",
)


def _special_tokens() -> list[str]:
    """The special tokens of a multilingual Whisper tokenizer, in id order (``<|notimestamps|>`` last)."""
    languages = [f"<|{code}|>" for code in LANGUAGES]
    tail = ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    return ["<|endoftext|>", "<|startoftranscript|>", *languages, *tail]


def _build_tokenizer() -> Tokenizer:
    """A byte-level BPE over ``_CORPUS`` plus Whisper's special and timestamp tokens."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=len(alphabet) + _N_MERGES, initial_alphabet=alphabet, show_progress=False, special_tokens=[]
    )
    tokenizer.train_from_iterator(_CORPUS, trainer=trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in _special_tokens()])
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(_N_TIMESTAMPS)]
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in timestamps])
    return tokenizer


def _whisper_tokenizer() -> WhisperTokenizer:
    """Wrap the BPE in ``WhisperTokenizer`` (named and extra special tokens set like the real checkpoints)."""
    backend = _build_tokenizer()
    return WhisperTokenizer(
        tokenizer_object=backend,
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=_special_tokens()[1:],
        model_max_length=TINY_WHISPER_DIMS["max_target_positions"],
    )


def _generation_config(tokenizer: WhisperTokenizer) -> GenerationConfig:
    """The generation settings a multilingual Whisper checkpoint ships: language/task ids, suppression, caps."""
    ids = tokenizer.convert_tokens_to_ids
    eot = ids("<|endoftext|>")
    return GenerationConfig(
        decoder_start_token_id=ids("<|startoftranscript|>"),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=TINY_WHISPER_DIMS["max_target_positions"],
        is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids(f"<|{code}|>") for code in LANGUAGES},
        task_to_id={"translate": ids("<|translate|>"), "transcribe": ids("<|transcribe|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"),
        prev_sot_token_id=ids("<|startofprev|>"),
        begin_suppress_tokens=[ids("Ġ"), eot],
        suppress_tokens=[],
        return_timestamps=False,
    )


def make_tiny_whisper(folder: Path, seed: int = 0) -> Path:
    """Write a tiny random-initialised multilingual Whisper checkpoint in the Hugging Face layout.

    Args:
        folder: where to write (created; existing files of the same names are overwritten).
        seed: seeds the random weights (the tokenizer does not depend on it).

    Returns:
        ``folder``, loadable with ``WhisperForConditionalGeneration.from_pretrained(folder)`` and
        ``WhisperProcessor.from_pretrained(folder)``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _whisper_tokenizer()
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    sot = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    generation_config = _generation_config(tokenizer)
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=generation_config.suppress_tokens,
        begin_suppress_tokens=generation_config.begin_suppress_tokens,
        tie_word_embeddings=False,
        **TINY_WHISPER_DIMS,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # special and timestamp tokens rarely win the argmax: greedy decoding emits text
        model.proj_out.weight[eot:] *= _SPECIAL_LOGIT_SCALE
    model.generation_config = generation_config
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(folder)
    logger.info("tiny Whisper (vocab %d, d_model %d) written to %s", config.vocab_size, config.d_model, folder)
    return folder

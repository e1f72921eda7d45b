"""Write a complete GPT-SoVITS v2 model folder with deterministic random weights, in the official layouts.

    python -m sovits_core.testing.make_model OUT_DIR [--size tiny|full] [--seed N]

gives ``OUT_DIR/gpt.ckpt``, ``OUT_DIR/sovits.pth`` (written by :mod:`sovits_core.checkpoint` exactly as upstream
writes them), ``OUT_DIR/chinese-hubert-base/`` (HubertConfig, random weights, ``preprocessor_config.json``) and
``OUT_DIR/chinese-roberta-wwm-ext-large/`` (BertConfig, random weights, a generated ``vocab.txt`` + tokenizer files).
``tiny`` is for tests (small, loads fast); ``full`` has upstream v2's dimensions (for benchmarks; large). The same
seed gives the same weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections import Counter
from pathlib import Path

import torch

from sovits_core.checkpoint import save_gpt, save_sovits
from sovits_core.sovits.config import SoVITSConfig
from sovits_core.sovits.testing import TINY_CONFIG as TINY_SOVITS
from sovits_core.sovits.testing import seeded_model


logger = logging.getLogger(__name__)

HUBERT_DIR = "chinese-hubert-base"
ROBERTA_DIR = "chinese-roberta-wwm-ext-large"
SIZES = ("tiny", "full")
# The tiny GPT is random: without help it never emits EOS and every segment runs to the length cap. A small EOS
# bias makes rows stop on their own after tens of tokens (some still hit the cap), and a short cap keeps tests fast.
TINY_EOS_BIAS = 3.0
TINY_MAX_SEC = 6

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PUNCTUATION = "，。！？、；：“”‘’（）《》【】—…·,.!?;:'\"()-"
TINY_CJK_CHARS = 600
PREPROCESSOR = {
    "do_normalize": True,
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0,
    "return_attention_mask": False,
    "sampling_rate": 16000,
}


# ----------------------------------------------------------------------------------------------------------- SoVITS
def write_sovits(path: Path, cfg: SoVITSConfig, seed: int) -> None:
    model = seeded_model(cfg, seed)
    save_sovits(path, cfg, model.upstream_state_dict(), info=f"random_seed{seed}")


# ----------------------------------------------------------------------------------------------------------- GPT
def write_gpt(path: Path, size: str, seed: int) -> None:
    from sovits_core.t2s.testing import seeded_state_dict

    cfg = gpt_config(size)
    eos_bias = TINY_EOS_BIAS if size == "tiny" else 0.0
    save_gpt(path, cfg, seeded_state_dict(cfg, seed, eos_bias=eos_bias), info=f"GPT-random-seed{seed}")


def gpt_config(size: str):
    from sovits_core.t2s.config import T2SConfig
    from sovits_core.t2s.testing import TINY_CONFIG

    return dataclasses.replace(TINY_CONFIG, max_sec=TINY_MAX_SEC) if size == "tiny" else T2SConfig()


def bert_width(size: str) -> int:
    """Width of the BERT features the GPT expects (its ``bert_proj`` input; upstream fixes it at 1024)."""
    from sovits_core.t2s.config import BERT_DIM

    return int(getattr(gpt_config(size), "bert_dim", BERT_DIM))


# ----------------------------------------------------------------------------------------------------------- HF folders
def write_hubert(folder: Path, size: str, seed: int) -> int:
    """CNHuBERT folder; returns its hidden size (the SoVITS ``ssl_dim``)."""
    from transformers import HubertConfig, HubertModel

    if size == "tiny":
        config = HubertConfig(
            hidden_size=TINY_SOVITS.ssl_dim,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(16,) * 7,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
        )
    else:
        config = HubertConfig()  # hidden 768, 12 layers, 512-channel conv front end: chinese-hubert-base's shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HubertModel(config).eval()
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2) + "\n")
    return config.hidden_size


def common_cjk_chars(limit: int | None) -> list[str]:
    """CJK characters for the vocabulary: the ``limit`` most frequent in jieba's dictionary, or the whole
    basic block U+4E00..U+9FA5 when ``limit`` is None."""
    if limit is None:
        return [chr(c) for c in range(0x4E00, 0x9FA6)]
    import jieba

    counts: Counter[str] = Counter()
    dict_path = Path(jieba.__file__).parent / "dict.txt"
    with open(dict_path, encoding="utf-8") as fh:
        for line in fh:
            word, freq, *_ = line.split(" ")
            for ch in word:
                if "\u4e00" <= ch <= "\u9fa5":
                    counts[ch] += int(freq)
    return [ch for ch, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def build_vocab(cjk: list[str]) -> list[str]:
    """Special tokens, punctuation, digits, ASCII letters, then CJK characters (no duplicates, stable order)."""
    ascii_chars = [chr(c) for c in range(ord("0"), ord("9") + 1)] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    seen: dict[str, None] = {}
    for token in (*SPECIAL_TOKENS, *PUNCTUATION, *ascii_chars, *cjk):
        seen.setdefault(token, None)
    return list(seen)


def write_roberta(folder: Path, size: str, seed: int) -> None:
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    vocab = build_vocab(common_cjk_chars(TINY_CJK_CHARS if size == "tiny" else None))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    hidden = bert_width(size)
    if size == "tiny":
        config = BertConfig(
            vocab_size=len(vocab),
            hidden_size=hidden,
            num_hidden_layers=2,
            num_attention_heads=max(1, hidden // 64),
            intermediate_size=16,
            max_position_embeddings=128,
        )
    else:  # chinese-roberta-wwm-ext-large's shape
        config = BertConfig(
            vocab_size=len(vocab),
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=4096,
            max_position_embeddings=512,
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForMaskedLM(config).eval()
    if size == "tiny":
        model = model.half()  # halves the folder; the loader converts to the requested dtype
    model.save_pretrained(folder)
    BertTokenizer.from_pretrained(folder, local_files_only=True).save_pretrained(folder)


# ----------------------------------------------------------------------------------------------------------- entry
def make_model(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write the four model parts to ``out_dir`` (created if needed); returns the folder."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ssl_dim = write_hubert(out / HUBERT_DIR, size, seed + 2)
    write_roberta(out / ROBERTA_DIR, size, seed + 3)
    sovits_cfg = TINY_SOVITS if size == "tiny" else SoVITSConfig()
    if sovits_cfg.ssl_dim != ssl_dim:
        raise AssertionError(f"SoVITS ssl_dim {sovits_cfg.ssl_dim} != HuBERT hidden {ssl_dim}")
    write_sovits(out / "sovits.pth", sovits_cfg, seed)
    write_gpt(out / "gpt.ckpt", size, seed + 1)
    logger.info("wrote %s model (seed %d) to %s", size, seed, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=SIZES, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    make_model(args.out_dir, args.size, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

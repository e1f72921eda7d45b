"""Fixtures for the synthesis-job tests: a tiny model whose GPT stops after 1 s, and a voice bank built for it."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from manifests.testing import two_voice_table


EXAMPLE_CLIP = Path(__file__).resolve().parents[2] / "manifests" / "examples" / "voices" / "zh_mei.wav"


@pytest.fixture(scope="session")
def synth_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random model with ``max_sec = 1`` (50 semantic tokens per segment), so that jobs run with the
    model's own length cap and no extra flags (a random GPT rarely emits EOS; 54 s per row would be too slow)."""
    from sovits_core.checkpoint import load_gpt, save_gpt

    out = tmp_path_factory.mktemp("synth_model") / "model"
    shutil.copytree(tiny_model_dir, out)
    cfg, state = load_gpt(out / "gpt.ckpt")
    save_gpt(out / "gpt.ckpt", dataclasses.replace(cfg, max_sec=1), state)
    return out


@pytest.fixture(scope="session")
def synth_voice_bank(synth_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bank (local folder) with two voices from one clip: ``zh_a`` (with transcript), ``zh_b`` (reference-free)."""
    from jobs.precompute_voices import PrecomputeConfig, run
    from pipelines.engine.flags import from_flat

    src = tmp_path_factory.mktemp("voices")
    shutil.copy(EXAMPLE_CLIP, src / "mei.wav")
    pq.write_table(two_voice_table(), src / "voices.parquet")
    bank = str(tmp_path_factory.mktemp("bank"))
    config = from_flat(PrecomputeConfig, voices=str(src / "voices.parquet"), model_dir=str(synth_model_dir), out=bank,
                       workers=0)  # fmt: skip
    assert run(config) == 0
    return bank

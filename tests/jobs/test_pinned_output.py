"""The audio bytes of a fixed example job stay what they were before the engine refactor (tiny model, fixed seeds).

The hashes were recorded at commit 9410713 (see ``data/pinned_audio.json``) with ``--batch-size 1``, so every text
segment is decoded alone and the bytes do not depend on how rows are batched; the job runs on one Ray worker, as
when they were recorded (a worker uses one CPU thread: float sums, and so the last bit of a sample, depend on it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jobs import precompute_voices, synthesize


EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"
PINNED = json.loads((Path(__file__).parent / "data" / "pinned_audio.json").read_text())["sha256"]


@pytest.mark.slow
def test_example_job_audio_bytes_are_unchanged(ray_local: None, synth_model_dir: Path, tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    voices = ["--voices", str(EXAMPLES / "voices.parquet"), "--model-dir", str(synth_model_dir), "--out", str(bank)]
    assert precompute_voices.main([*voices, "--workers", "0"]) == 0
    got = {}
    for fmt in ("wav", "flac"):
        out = tmp_path / fmt
        assert synthesize.main(["--manifest", str(EXAMPLES / "utterances.parquet"), "--voices", str(bank),
                                "--model-dir", str(synth_model_dir), "--out", str(out), "--workers", "1",
                                "--batch-size", "1", "--format", fmt, "--no-progress", "--qc", "off"]) == 0  # fmt: skip
        got.update({f"{fmt}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "audio").iterdir()})
    assert sorted(got) == sorted(PINNED)
    changed = sorted(k for k in PINNED if got[k] != PINNED[k])
    for key in changed:  # say how far off a changed file is, to tell a last-bit change from a real one
        fmt, name = key.split("/")
        wav, _ = sf.read(tmp_path / fmt / "audio" / name)
        print(key, "changed:", len(wav), "samples, peak", float(np.abs(wav).max()))
    assert not changed, f"audio bytes changed for {changed}"

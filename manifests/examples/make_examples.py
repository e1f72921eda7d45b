"""Regenerate the example voices: ``python manifests/examples/make_examples.py``.

Writes ``voices/*.wav`` (16 kHz mono PCM-16, 3-10 s each, < 1 MB together) and ``voices.parquet`` next to this
file. The speech is synthesised with eSpeak NG (Debian package ``espeak-ng``; ``apt-get install espeak-ng``), so the
clips are real, intelligible speech with known transcripts and no licensing questions. The generated files are
committed; only whoever changes the examples needs espeak-ng.

Voices:
  * ``en_alice``: one English clip with its transcript;
  * ``zh_mei``: one Mandarin clip with its transcript;
  * ``en_bob``: two English clips, weighted 1.0 / 0.5, no transcript (a reference-free voice).
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile as sf
import soxr


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from manifests.voices import VoiceSpec, voices_to_table  # noqa: E402


logger = logging.getLogger("make_examples")

HERE = Path(__file__).resolve().parent
SAMPLE_RATE = 16000

# clip name -> (espeak-ng voice, words per minute, text)
CLIPS = {
    "en_alice": ("en-us+f3", 150, "The quick brown fox jumps over the lazy dog, and the birds sing in the morning."),
    "zh_mei": ("cmn", 170, "今天天气很好，我们一起去公园散步吧。"),
    "en_bob_1": ("en-gb+m3", 145, "Please call Stella and ask her to bring these things with her from the store."),
    "en_bob_2": ("en-gb+m3", 150, "Six spoons of fresh snow peas, five thick slabs of blue cheese, and a snack."),
}
VOICES = [
    VoiceSpec("en_alice", ("voices/en_alice.wav",), CLIPS["en_alice"][2], "en"),
    VoiceSpec("zh_mei", ("voices/zh_mei.wav",), CLIPS["zh_mei"][2], "zh"),
    VoiceSpec("en_bob", ("voices/en_bob_1.wav", "voices/en_bob_2.wav"), None, "en", (1.0, 0.5)),
]


def speak(voice: str, wpm: int, text: str) -> np.ndarray:
    """eSpeak NG speech as float32 mono at SAMPLE_RATE, peak-normalised to 0.7, with 0.2 s of silence around."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text], check=True, capture_output=True
    ).stdout
    wav, sr = sf.read(io.BytesIO(out), dtype="float32")
    wav = soxr.resample(wav, sr, SAMPLE_RATE).astype(np.float32)
    wav = 0.7 * wav / max(float(np.abs(wav).max()), 1e-6)
    pad = np.zeros(int(0.2 * SAMPLE_RATE), dtype=np.float32)
    return np.concatenate([pad, wav, pad])


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if shutil.which("espeak-ng") is None:
        logger.error("espeak-ng is not installed (apt-get install espeak-ng); the committed examples stay as they are")
        return 1
    (HERE / "voices").mkdir(exist_ok=True)
    for name, (voice, wpm, text) in CLIPS.items():
        wav = speak(voice, wpm, text)
        seconds = len(wav) / SAMPLE_RATE
        if not 3.5 <= seconds <= 9.5:
            raise SystemExit(f"{name}: {seconds:.2f} s is outside 3.5-9.5 s; change its text")
        sf.write(HERE / "voices" / f"{name}.wav", wav, SAMPLE_RATE, subtype="PCM_16")
        logger.info("%s: %.2f s", name, seconds)
    pq.write_table(voices_to_table(VOICES), HERE / "voices.parquet")
    total = sum(p.stat().st_size for p in (HERE / "voices").glob("*.wav")) + (HERE / "voices.parquet").stat().st_size
    logger.info("wrote %d voices, %.0f KB", len(VOICES), total / 1024)
    return 0


if __name__ == "__main__":
    sys.exit(main())

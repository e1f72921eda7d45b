"""SoVITS v2 decode speed on CPU: real-time factor for ~5 s of audio with random full-size weights.

    .venv/bin/python benchmarks/sovits.py                        # 2 threads, 5 s of audio, batch 1
    .venv/bin/python benchmarks/sovits.py --threads 1 --batch 4 --vocoder-bf16

Builds :class:`SynthesizerTrnV2` with upstream v2 dimensions (``s2.json``) and seeded random weights, then times
``decode`` (codes -> waveform, noise 0.5, speed 1) for ``--seconds`` of audio. Reported: best and median wall time
over ``--repeats`` runs, real-time factor (wall / audio seconds; target <= 0.2), process CPU time, the split between
prior encoder / flow / generator, and peak resident memory during decoding (and its growth over the loaded model). CPU timings on a shared machine are noisy: the load
average is printed next to the figures, and the best run is the fairest estimate of an idle machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sovits_core.sovits.config import SoVITSConfig  # noqa: E402
from sovits_core.sovits.model import SynthesizerTrnV2  # noqa: E402
from sovits_core.sovits.testing import seeded_weights  # noqa: E402


logger = logging.getLogger("benchmarks.sovits")
CODES_PER_SECOND = 25


def build_model(vocoder_bf16: bool) -> SynthesizerTrnV2:
    cfg = SoVITSConfig()
    model = SynthesizerTrnV2(cfg)
    model.load_state_dict(seeded_weights(cfg, seed=0), strict=True)
    model.eval()
    if vocoder_bf16:
        model.set_vocoder_dtype(torch.bfloat16)
    return model


def build_inputs(cfg: SoVITSConfig, seconds: float, batch: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    n_codes = int(seconds * CODES_PER_SECOND)
    n_phones = max(4, int(seconds * 12))
    codes = torch.randint(0, cfg.codebook_size, (batch, n_codes), generator=gen)
    phones = torch.randint(0, cfg.n_symbols, (batch, n_phones), generator=gen)
    ge = torch.randn(batch, cfg.gin_channels, 1, generator=gen)
    return codes, torch.full((batch,), n_codes), phones, torch.full((batch,), n_phones), ge


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc; falls back to the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """Highest RSS seen while the block runs (sampled every 2 ms from a background thread)."""

    def __enter__(self) -> RssSampler:
        self.peak = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, current_rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_mb())


def time_decode(model: SynthesizerTrnV2, inputs: tuple[torch.Tensor, ...], repeats: int) -> tuple[list, list]:
    walls, cpus = [], []
    seeds = list(range(inputs[0].shape[0]))
    model.decode(*inputs, noise_scale=0.5, seeds=seeds)  # warm-up (oneDNN primitive creation)
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        model.decode(*inputs, noise_scale=0.5, seeds=seeds)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


@torch.inference_mode()
def time_parts(model: SynthesizerTrnV2, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """Wall seconds of the prior encoder, the flow and the generator for one decode."""
    codes, code_lengths, phones, phone_lengths, ge = inputs
    out: dict[str, float] = {}
    start = time.perf_counter()
    feats = model.quantizer.decode(codes.unsqueeze(0))
    feats = torch.nn.functional.interpolate(feats, size=feats.shape[-1] * 2, mode="nearest")
    speeds = [1.0] * codes.shape[0]
    m, logs, mask, _ = model.enc_p(feats, code_lengths * 2, phones, phone_lengths, ge, speeds)
    out["enc_p"] = time.perf_counter() - start
    start = time.perf_counter()
    z = model.flow(m + 0.5 * torch.randn_like(m) * torch.exp(logs), mask, g=ge, reverse=True)
    out["flow"] = time.perf_counter() - start
    dec_dtype = model.dec.conv_pre.weight.dtype
    start = time.perf_counter()
    model.dec(z.to(dec_dtype), g=ge.to(dec_dtype))
    out["dec"] = time.perf_counter() - start
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vocoder-bf16", action="store_true", help="run the generator in bfloat16")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)

    rss_start = current_rss_mb()
    model = build_model(args.vocoder_bf16)
    gc.collect()
    rss_model = current_rss_mb()
    inputs = build_inputs(model.cfg, args.seconds, args.batch)
    with RssSampler() as sampler:
        walls, cpus = time_decode(model, inputs, args.repeats)
    parts = time_parts(model, inputs)
    audio_seconds = args.seconds * args.batch
    result = {
        "threads": args.threads,
        "batch": args.batch,
        "audio_seconds": audio_seconds,
        "vocoder_bf16": args.vocoder_bf16,
        "best_wall_s": round(min(walls), 3),
        "median_wall_s": round(statistics.median(walls), 3),
        "rtf_best": round(min(walls) / audio_seconds, 3),
        "rtf_median": round(statistics.median(walls) / audio_seconds, 3),
        "cpu_s_per_run": round(statistics.median(cpus), 3),
        "parts_s": {k: round(v, 3) for k, v in parts.items()},
        "peak_rss_mb": round(sampler.peak, 1),
        "model_rss_mb": round(rss_model - rss_start, 1),
        "decode_rss_growth_mb": round(sampler.peak - rss_model, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    logger.info(
        "SoVITS v2 decode, %d thread(s), batch %d, %.1f s of audio per row%s",
        args.threads,
        args.batch,
        args.seconds,
        ", bf16 vocoder" if args.vocoder_bf16 else "",
    )
    logger.info(
        "  wall: best %.3f s, median %.3f s over %d runs -> RTF best %.3f, median %.3f (target <= 0.2)",
        result["best_wall_s"],
        result["median_wall_s"],
        args.repeats,
        result["rtf_best"],
        result["rtf_median"],
    )
    logger.info("  CPU time per run %.3f s; parts (one run): %s", result["cpu_s_per_run"], result["parts_s"])
    logger.info(
        "  peak RSS %.0f MB (model %.0f MB, growth during decode %.0f MB); load average %.2f",
        result["peak_rss_mb"],
        result["model_rss_mb"],
        result["decode_rss_growth_mb"],
        result["load_average_1m"],
    )
    if result["load_average_1m"] > (os.cpu_count() or 1):
        logger.info("  note: the machine is busier than its %d cores; timings are inflated", os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tokens per second of T2S generation with random full-size (v2) weights.

    .venv/bin/python benchmarks/t2s.py                      # batch 1 and 8, 2 CPU threads
    .venv/bin/python benchmarks/t2s.py --batch-sizes 1 4 8 16 --new-tokens 300 --threads 4

Rows get mixed text lengths (by default 40-80 phones) and prompt lengths (100-200 codes, i.e. 4-8 s of reference
audio; one row reference-free), like a real batch of different voices. EOS is made impossible (its output row is set very negative) so every row decodes
exactly ``--new-tokens`` tokens. Tokens/s counts generated tokens over the whole ``generate`` call (prefill
included); "decoding alone" subtracts the time of a 1-token call (the prefill). The best of ``--repeats`` runs is
reported. The machine's load average is logged: on a shared CPU, other processes make these figures worse.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import torch

from sovits_core.t2s import GenerateOptions, T2SConfig, T2SModel, T2SRequest, generate
from sovits_core.t2s.ops import onednn_linear_enabled, set_onednn_linear
from sovits_core.t2s.testing import seeded_request


logger = logging.getLogger("benchmarks.t2s")


def build_model(cfg: T2SConfig, device: str, dtype: torch.dtype) -> T2SModel:
    torch.manual_seed(0)
    model = T2SModel(cfg).eval()
    with torch.no_grad():
        # The last LayerNorm has unit gain, so its output sums to zero over channels; with a constant bias
        # b/sqrt(D) and an EOS row of -c/sqrt(D), the EOS logit is exactly -c*b: EOS never wins.
        ones = torch.ones(cfg.hidden_dim) / cfg.hidden_dim**0.5
        model.h.layers[-1].norm2.bias.copy_(ones)
        model.ar_predict_layer.weight[cfg.eos] = -100.0 * ones
    return model.to(device=device, dtype=dtype)


def build_requests(cfg: T2SConfig, batch: int, phones: int = 60, prompt: int = 150) -> list[T2SRequest]:
    """Rows with ``phones +- 20`` phones and ``prompt +- 50`` prompt codes; the last row of a batch is reference-free."""
    requests = []
    for row in range(batch):
        n_phones = max(1, phones - 20 + (row * 13) % 41)
        n_prompt = 0 if row == batch - 1 and batch > 1 else max(0, prompt - 50 + (row * 37) % 101)
        requests.append(seeded_request(n_phones, n_prompt, row, cfg, seed=row, top_k=15))
    return requests


def measure(model: T2SModel, requests: list[T2SRequest], options: GenerateOptions, repeats: int) -> tuple[float, int]:
    best = float("inf")
    n_tokens = 0
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = generate(model, requests, options)
        if model.ar_predict_layer.weight.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
        n_tokens = sum(int(out.tokens.numel()) for out in outputs)
    return best, n_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="batch sizes to time")
    parser.add_argument("--new-tokens", type=int, default=200, help="tokens generated per row")
    parser.add_argument("--phones", type=int, default=60, help="mean phones per row (prompt text + target text)")
    parser.add_argument("--prompt-codes", type=int, default=150, help="mean prompt codes per row (25 per second)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per batch size (best is reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="weights")
    parser.add_argument("--no-onednn", action="store_true", help="use F.linear (MKL) instead of oneDNN on CPU")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    if args.no_onednn:
        set_onednn_linear(False)
    cfg = T2SConfig()
    model = build_model(cfg, args.device, getattr(torch, args.dtype))
    options = GenerateOptions(max_new_tokens=args.new_tokens)
    logger.info(
        "load average before: %.1f %.1f %.1f (2-core machine: > 0.5 means others are using it)", *os.getloadavg()
    )
    logger.info(
        "T2S v2 full size (%d layers, dim %d, %d heads), %s %s, %d threads, oneDNN linear %s",
        cfg.n_layers,
        cfg.hidden_dim,
        cfg.n_heads,
        args.device,
        args.dtype,
        args.threads,
        onednn_linear_enabled() and args.device == "cpu",
    )
    generate(model, build_requests(cfg, 1), GenerateOptions(max_new_tokens=16))  # warm-up
    base = None
    for batch in args.batch_sizes:
        requests = build_requests(cfg, batch, args.phones, args.prompt_codes)
        seconds, n_tokens = measure(model, requests, options, args.repeats)
        prefill_seconds, _ = measure(model, requests, GenerateOptions(max_new_tokens=1), args.repeats)
        rate = n_tokens / seconds
        decode_rate = (n_tokens - batch) / max(seconds - prefill_seconds, 1e-9)
        base = base or rate
        logger.info(
            "batch %2d: %5d tokens in %6.2f s = %7.1f tokens/s (%6.1f per row, x%.1f batch 1); "
            "prefill %.2f s, decoding alone %7.1f tokens/s",
            batch,
            n_tokens,
            seconds,
            rate,
            rate / batch,
            rate / base,
            prefill_seconds,
            decode_rate,
        )
    logger.info("load average after: %.1f %.1f %.1f", *os.getloadavg())


if __name__ == "__main__":
    main()

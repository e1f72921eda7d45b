"""Regenerate ``sovits_upstream_parity.json``: outputs of upstream GPT-SoVITS's SynthesizerTrn (v2) on seeded weights.

Not run by the test suite. It needs the read-only upstream checkout on ``PYTHONPATH``::

    PYTHONPATH=/work/main:/work/upstream/GPT_SoVITS .venv/bin/python \
        tests/core/data/make_sovits_upstream_parity.py tests/core/data/sovits_upstream_parity.json

Upstream's ``module/models.py`` imports two packages that the v2 inference path never calls (``f5_tts`` for the
v3/v4 models, ``einops`` for two reshapes in ``core_vq``); this script registers minimal stand-ins for them before
importing, and runs nothing else from upstream than ``SynthesizerTrn``.

The weights (``seeded_weights(PARITY_CONFIG)``) are exported with ``upstream_state_dict`` (weight-norm pairs) and
loaded into upstream's model; a missing/unexpected key other than ``enc_q.*`` aborts. Inputs are rebuilt from seeds by
``sovits_core.sovits.testing``. Noise scale 0 makes decoding deterministic. The JSON holds only data.
"""

import json
import sys
import types

import torch

from sovits_core.sovits.testing import PARITY_CONFIG, seeded_inputs, seeded_model, seeded_spectrogram, seeded_ssl


WEIGHT_SEED = 7
SSL_FRAMES, SSL_SEED = 41, 1
SPEC_FRAMES, SPEC_SEED = 90, 2
DECODE_CASES = [  # name, codes, phones, input seed, speed
    ("speed_1", 12, 9, 3, 1.0),
    ("speed_1_25", 10, 14, 4, 1.25),
    ("speed_0_8", 7, 5, 5, 0.8),
]
AUDIO_STRIDE = 4  # keep every 4th sample in the fixture


def _install_stand_ins() -> None:
    def rearrange(x, pattern):
        if pattern in ("b d n -> b n d", "b n d -> b d n"):
            return x.transpose(1, 2)
        if pattern == "... d -> (...) d":
            return x.reshape(-1, x.shape[-1])
        raise ValueError(f"einops stand-in does not know pattern {pattern!r}")

    sys.modules["einops"] = types.SimpleNamespace(rearrange=rearrange, repeat=None)
    for name in ("f5_tts", "f5_tts.model"):
        sys.modules[name] = types.SimpleNamespace(DiT=None)


def build_upstream():
    _install_stand_ins()
    from module.models import SynthesizerTrn

    hps = PARITY_CONFIG.to_hparams()
    model_kwargs = {k: v for k, v in hps["model"].items() if k != "version"}
    model = SynthesizerTrn(
        hps["data"]["filter_length"] // 2 + 1,
        hps["train"]["segment_size"] // hps["data"]["hop_length"],
        n_speakers=hps["data"]["n_speakers"],
        version="v2",
        **model_kwargs,
    )
    ours = seeded_model(PARITY_CONFIG, WEIGHT_SEED)
    result = model.load_state_dict(ours.upstream_state_dict(), strict=False)
    bad = [k for k in result.missing_keys if not k.startswith("enc_q.")] + list(result.unexpected_keys)
    if bad:
        raise SystemExit(f"key mismatch with upstream: {bad[:10]}")
    return model.eval()


def main(out_path: str) -> None:
    model = build_upstream()
    with torch.no_grad():
        codes = model.extract_latent(seeded_ssl(PARITY_CONFIG, SSL_FRAMES, SSL_SEED))[0, 0]
        spec = seeded_spectrogram(PARITY_CONFIG, SPEC_FRAMES, SPEC_SEED)
        ones = torch.ones(1, 1, SPEC_FRAMES)
        ge = model.ref_enc(spec[:, :704] * ones, ones)
        cases = []
        for name, n_codes, n_phones, seed, speed in DECODE_CASES:
            inputs = seeded_inputs(PARITY_CONFIG, [n_codes], [n_phones], seed)
            audio = model.decode(inputs.codes.unsqueeze(1), inputs.phones, spec, noise_scale=0.0, speed=speed)[0, 0]
            cases.append(
                dict(
                    name=name,
                    n_codes=n_codes,
                    n_phones=n_phones,
                    input_seed=seed,
                    speed=speed,
                    n_samples=int(audio.numel()),
                    audio=[round(float(v), 6) for v in audio[::AUDIO_STRIDE]],
                )
            )
            print(name, audio.numel(), float(audio.abs().max()), file=sys.stderr)
    fixture = dict(
        description="Upstream GPT-SoVITS SynthesizerTrn (v2) outputs; see make_sovits_upstream_parity.py",
        upstream_commit="48b1a016",
        torch_version=torch.__version__,
        config=PARITY_CONFIG.to_hparams()["model"],
        weight_seed=WEIGHT_SEED,
        ssl=dict(frames=SSL_FRAMES, seed=SSL_SEED, codes=codes.tolist()),
        spec=dict(frames=SPEC_FRAMES, seed=SPEC_SEED, ge=[round(float(v), 6) for v in ge.flatten()]),
        audio_stride=AUDIO_STRIDE,
        decode=cases,
    )
    with open(out_path, "w") as fh:
        json.dump(fixture, fh, separators=(",", ":"))
        fh.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])

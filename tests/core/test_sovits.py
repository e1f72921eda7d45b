"""SynthesizerTrnV2 inference: latent extraction, reference embedding, batched decoding with padding masks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sovits_core.sovits.config import SoVITSConfig
from sovits_core.sovits.flow import ResidualCouplingBlock
from sovits_core.sovits.model import SynthesizerTrnV2, average_embeddings
from sovits_core.sovits.testing import (
    PARITY_CONFIG,
    TINY_CONFIG,
    seeded_inputs,
    seeded_model,
    seeded_spectrogram,
    seeded_ssl,
)


CFG = TINY_CONFIG
TOL = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(scope="module")
def model() -> SynthesizerTrnV2:
    return seeded_model(CFG, seed=0)


def _inputs(lengths: list[int], phone_lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, ...]:
    return seeded_inputs(CFG, lengths, phone_lengths, seed).as_args()


# ----------------------------------------------------------------------------------------------------------- latents
def test_extract_latent_shape_and_nearest_codeword(model: SynthesizerTrnV2):
    ssl = torch.randn(2, CFG.ssl_dim, 101)
    codes = model.extract_latent(ssl)
    assert codes.shape == (2, 50) and codes.dtype == torch.long
    with torch.no_grad():
        proj = model.ssl_proj(ssl).transpose(1, 2)  # [B, T/2, D]
    embed = model.quantizer.vq.layers[0]._codebook.embed
    expected = torch.cdist(proj, embed.unsqueeze(0).expand(2, -1, -1)).argmin(-1)
    assert torch.equal(codes, expected)


def test_reference_embedding_shape_and_padded_rows(model: SynthesizerTrnV2):
    spec = torch.rand(2, CFG.spec_channels, 120)
    ge = model.reference_embedding(spec)
    assert ge.shape == (2, CFG.gin_channels, 1)
    torch.testing.assert_close(ge[1:], model.reference_embedding(spec[1:]), **TOL)
    # only the first ref_bins bins are used (v2: 704)
    louder_top = spec.clone()
    louder_top[:, CFG.ref_bins :] *= 10
    torch.testing.assert_close(model.reference_embedding(louder_top), ge)
    # rows of different lengths equal the rows encoded alone
    lengths = torch.tensor([120, 75])
    batched = model.reference_embedding(spec, lengths)
    torch.testing.assert_close(batched[1:], model.reference_embedding(spec[1:, :, :75]), **TOL)


def test_average_embeddings():
    a, b = torch.ones(4, 1), torch.zeros(4, 1)
    assert torch.equal(average_embeddings([a, b]), torch.full((4, 1), 0.5))
    with pytest.raises(ValueError):
        average_embeddings([])


# ----------------------------------------------------------------------------------------------------------- decode
def test_decode_length_is_1280_samples_per_code(model: SynthesizerTrnV2):
    assert CFG.samples_per_code == 1280 and SoVITSConfig().samples_per_code == 1280
    codes, code_len, phones, phone_len, ge = _inputs([13], [7])
    audio, lengths = model.decode(codes, code_len, phones, phone_len, ge, speed=1.0, noise_scale=0.0)
    assert audio.shape == (1, 13 * 1280) and lengths.tolist() == [13 * 1280]
    assert torch.isfinite(audio).all() and audio.abs().max() > 0


@pytest.mark.parametrize("speed", [0.75, 1.3, 2.0])
def test_decode_length_with_speed(model: SynthesizerTrnV2, speed: float):
    codes, code_len, phones, phone_len, ge = _inputs([13], [7])
    audio, lengths = model.decode(codes, code_len, phones, phone_len, ge, speed=speed, noise_scale=0.0)
    frames = int(2 * 13 / speed) + 1  # upstream: F.interpolate(size=int(T / speed) + 1) on 50 Hz frames
    assert lengths.tolist() == [frames * 640] and audio.shape[1] == frames * 640


@pytest.mark.parametrize("split_rows", [True, False], ids=["cpu-row-path", "masked-batch-path"])
def test_batched_decode_equals_rows_alone(model: SynthesizerTrnV2, split_rows: bool):
    codes, code_len, phones, phone_len, ge = _inputs([9, 16, 4], [5, 11, 8], seed=1)
    speeds, seeds = [1.0, 1.25, 0.8], [11, 22, 33]
    model.dec.split_rows_on_cpu = split_rows
    try:
        audio, lengths = model.decode(
            codes, code_len, phones, phone_len, ge, speed=speeds, noise_scale=0.6, seeds=seeds
        )
    finally:
        model.dec.split_rows_on_cpu = True
    for i in range(3):
        n, p = int(code_len[i]), int(phone_len[i])
        alone, alone_len = model.decode(
            codes[i : i + 1, :n],
            code_len[i : i + 1],
            phones[i : i + 1, :p],
            phone_len[i : i + 1],
            ge[i : i + 1],
            speed=speeds[i],
            noise_scale=0.6,
            seeds=[seeds[i]],
        )
        assert int(lengths[i]) == int(alone_len[0])
        torch.testing.assert_close(audio[i, : int(lengths[i])], alone[0], **TOL)
        assert torch.count_nonzero(audio[i, int(lengths[i]) :]) == 0


def test_noise_scale_and_seeds(model: SynthesizerTrnV2):
    args = _inputs([8], [6], seed=2)
    quiet, _ = model.decode(*args, noise_scale=0.0)
    again, _ = model.decode(*args, noise_scale=0.0)
    torch.testing.assert_close(quiet, again)
    noisy_a, _ = model.decode(*args, noise_scale=0.8, seeds=[5])
    noisy_b, _ = model.decode(*args, noise_scale=0.8, seeds=[5])
    noisy_c, _ = model.decode(*args, noise_scale=0.8, seeds=[6])
    torch.testing.assert_close(noisy_a, noisy_b)
    assert not torch.allclose(noisy_a, quiet, atol=1e-4) and not torch.allclose(noisy_a, noisy_c, atol=1e-4)


def test_decode_accepts_upstream_code_layout(model: SynthesizerTrnV2):
    codes, code_len, phones, phone_len, ge = _inputs([6], [4], seed=3)
    flat, _ = model.decode(codes, code_len, phones, phone_len, ge, noise_scale=0.0)
    nested, _ = model.decode(codes.unsqueeze(1), code_len, phones, phone_len, ge, noise_scale=0.0)
    torch.testing.assert_close(flat, nested)


def test_decode_input_errors(model: SynthesizerTrnV2):
    codes, code_len, phones, phone_len, ge = _inputs([6, 5], [4, 4])
    with pytest.raises(ValueError, match="semantic codes must be in"):
        model.decode(codes + CFG.codebook_size, code_len, phones, phone_len, ge)
    with pytest.raises(ValueError, match="phone ids must be in"):
        model.decode(codes, code_len, phones + CFG.n_symbols, phone_len, ge)
    with pytest.raises(ValueError, match="code_lengths must be in"):
        model.decode(codes, code_len + 1, phones, phone_len, ge)
    with pytest.raises(ValueError, match="phone_lengths must be in"):
        model.decode(codes, code_len, phones, phone_len * 0, ge)
    with pytest.raises(ValueError, match="ge"):
        model.decode(codes, code_len, phones, phone_len, ge[:1])
    with pytest.raises(ValueError, match="speed must be positive"):
        model.decode(codes, code_len, phones, phone_len, ge, speed=0.0)
    with pytest.raises(ValueError, match="seeds"):
        model.decode(codes, code_len, phones, phone_len, ge, seeds=[1])


# ----------------------------------------------------------------------------------------------------------- parts
def test_flow_reverse_inverts_forward():
    torch.manual_seed(0)
    flow = ResidualCouplingBlock(8, 16, 5, 2, 2, gin_channels=4).eval()
    for layer in flow.flows[::2]:  # post convs start at zero (identity flow); make them do something
        torch.nn.init.normal_(layer.post.weight, std=0.3)
    x, g = torch.randn(2, 8, 30), torch.randn(2, 4, 1)
    mask = torch.ones(2, 1, 30)
    with torch.no_grad():
        y = flow(x, mask, g, reverse=False)
        assert not torch.allclose(y, x)
        torch.testing.assert_close(flow(y, mask, g, reverse=True), x, rtol=1e-5, atol=1e-5)


def test_config_hparams_round_trip_and_validation():
    assert SoVITSConfig.from_hparams(SoVITSConfig().to_hparams()) == SoVITSConfig()
    assert SoVITSConfig.from_hparams(CFG.to_hparams()) == CFG
    full = SoVITSConfig().to_hparams()["model"]
    assert "ssl_dim" not in full and full["upsample_rates"] == [10, 8, 2, 2, 2]  # upstream keys only
    with pytest.raises(ValueError, match="hop_length"):
        SoVITSConfig(upsample_rates=(10, 8, 2, 2))
    with pytest.raises(ValueError, match="model"):
        SoVITSConfig.from_hparams({"data": {}})


# ----------------------------------------------------------------------------------------------------------- parity
PARITY_FILE = Path(__file__).parent / "data" / "sovits_upstream_parity.json"


@pytest.fixture(scope="module")
def parity() -> dict:
    return json.loads(PARITY_FILE.read_text())


@pytest.fixture(scope="module")
def parity_model(parity: dict) -> SynthesizerTrnV2:
    assert parity["config"] == PARITY_CONFIG.to_hparams()["model"]
    return seeded_model(PARITY_CONFIG, parity["weight_seed"])


def test_upstream_parity_latents_and_embedding(parity: dict, parity_model: SynthesizerTrnV2):
    ssl = seeded_ssl(PARITY_CONFIG, parity["ssl"]["frames"], parity["ssl"]["seed"])
    assert parity_model.extract_latent(ssl)[0].tolist() == parity["ssl"]["codes"]
    spec = seeded_spectrogram(PARITY_CONFIG, parity["spec"]["frames"], parity["spec"]["seed"])
    ge = parity_model.reference_embedding(spec).flatten()
    torch.testing.assert_close(ge, torch.tensor(parity["spec"]["ge"]), rtol=0, atol=1e-5)


def test_upstream_parity_decode(parity: dict, parity_model: SynthesizerTrnV2):
    spec = seeded_spectrogram(PARITY_CONFIG, parity["spec"]["frames"], parity["spec"]["seed"])
    ge = parity_model.reference_embedding(spec)
    for case in parity["decode"]:
        inputs = seeded_inputs(PARITY_CONFIG, [case["n_codes"]], [case["n_phones"]], case["input_seed"])
        args = inputs.as_args()[:4] + (ge,)
        audio, lengths = parity_model.decode(*args, speed=case["speed"], noise_scale=0.0)
        assert int(lengths[0]) == case["n_samples"] == audio.shape[1], case["name"]
        expected = torch.tensor(case["audio"])
        torch.testing.assert_close(audio[0, :: parity["audio_stride"]], expected, rtol=0, atol=2e-5)

"""VoiceFeatures serialisation: safetensors round trip, versioning, corruption; ge averaging."""

import pytest
import torch

from sovits_core.voice import VoiceFeatures, VoiceFormatError, average_ge, prompt_text_for


def make_voice(ref_free: bool = False) -> VoiceFeatures:
    g = torch.Generator().manual_seed(0)
    return VoiceFeatures(
        ge=torch.randn(512, 1, generator=g),
        prompt_codes=None if ref_free else torch.randint(0, 1024, (37,), generator=g),
        prompt_phone_ids=None if ref_free else torch.randint(0, 732, (12,), generator=g),
        prompt_bert=None if ref_free else torch.randn(1024, 12, generator=g),
        ref_lang="zh",
        ref_text=None if ref_free else "你好。",
        model_fingerprint="abc123",
        n_clips=2,
        ref_seconds=7.5,
        warnings=("clip 1 cut from 12.0 s to 10 s",),
    )


@pytest.mark.parametrize("ref_free", [False, True])
def test_round_trip(ref_free):
    voice = make_voice(ref_free)
    back = VoiceFeatures.from_bytes(voice.to_bytes())
    assert back.reference_free is ref_free
    torch.testing.assert_close(back.ge, voice.ge)
    if not ref_free:
        assert torch.equal(back.prompt_codes, voice.prompt_codes)
        assert torch.equal(back.prompt_phone_ids, voice.prompt_phone_ids)
        torch.testing.assert_close(back.prompt_bert, voice.prompt_bert)
    assert (back.ref_text, back.ref_lang, back.n_clips, back.warnings) == (
        voice.ref_text,
        voice.ref_lang,
        voice.n_clips,
        voice.warnings,
    )
    assert b"pickle" not in voice.to_bytes()[:200]


def _with_version(data: bytes, version: str) -> bytes:
    size = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + size]
    old = b'"format_version":"1"'
    assert old in header, header
    new = b'"format_version":"' + version.encode() + b'"'
    assert len(new) == len(old), "test helper keeps the header size"
    return data[:8] + header.replace(old, new) + data[8 + size :]


def test_unknown_version_refused():
    with pytest.raises(VoiceFormatError, match="version 9"):
        VoiceFeatures.from_bytes(_with_version(make_voice().to_bytes(), "9"))


@pytest.mark.parametrize("data", [b"", b"\x00" * 4, b"\xff" * 64, b"PK\x03\x04" + b"\x00" * 100])
def test_corrupt_bytes_refused(data):
    with pytest.raises(VoiceFormatError):
        VoiceFeatures.from_bytes(data)


def test_truncated_tensor_data_refused():
    data = make_voice().to_bytes()
    with pytest.raises(VoiceFormatError):
        VoiceFeatures.from_bytes(data[: len(data) - 100])


def test_average_ge_weights():
    a, b = torch.zeros(4, 1), torch.ones(4, 1)
    torch.testing.assert_close(average_ge([a, b], [1, 1]), torch.full((4, 1), 0.5))
    torch.testing.assert_close(average_ge([a, b], [1, 3]), torch.full((4, 1), 0.75))
    with pytest.raises(ValueError):
        average_ge([a, b], [0, 0])


def test_prompt_text_gets_a_full_stop():
    assert prompt_text_for("你好", "zh") == "你好。"
    assert prompt_text_for("hello", "en") == "hello."
    assert prompt_text_for("hello!", "en") == "hello!"

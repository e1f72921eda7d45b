"""Official checkpoint layouts: round trips, version detection, key/shape errors, refusal of code-running pickles."""

from __future__ import annotations

import io
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from sovits_core.checkpoint import (
    CheckpointError,
    UnsupportedVersion,
    load_gpt,
    load_sovits,
    read_marker,
    save_gpt,
    save_sovits,
)
from sovits_core.sovits.hparams import OFFICIAL_PICKLE, HParams
from sovits_core.sovits.layers import fuse_weight_norm
from sovits_core.sovits.model import SynthesizerTrnV2
from sovits_core.sovits.testing import TINY_CONFIG as TINY_SOVITS
from sovits_core.sovits.testing import seeded_weights as seeded_sovits_weights
from sovits_core.t2s.testing import TINY_CONFIG, seeded_state_dict
from sovits_core.testing.make_model import gpt_config


@pytest.fixture(scope="module")
def sovits_sd() -> dict[str, torch.Tensor]:
    model = SynthesizerTrnV2(TINY_SOVITS)
    model.load_state_dict(seeded_sovits_weights(TINY_SOVITS, 0))
    return model.upstream_state_dict()


@pytest.fixture(scope="module")
def sovits_file(tmp_path_factory: pytest.TempPathFactory, sovits_sd) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "sovits.pth"
    save_sovits(path, TINY_SOVITS, sovits_sd, info="3epoch_120iteration")
    return path


def _raw(path: Path) -> dict:
    """The file's dict, read the way upstream's loader does (marker head put back to PK)."""
    from sovits_core.sovits.hparams import allow_hparams_unpickling

    allow_hparams_unpickling()
    data = path.read_bytes()
    return torch.load(io.BytesIO(b"PK" + data[2:]), map_location="cpu", weights_only=True)


def _write_official(path: Path, weight: dict, config, marker: bytes | None = None) -> Path:
    buf = io.BytesIO()
    torch.save(OrderedDict(weight=weight, config=config, info="x"), buf, pickle_module=OFFICIAL_PICKLE)
    data = buf.getvalue()
    path.write_bytes(marker + data[2:] if marker else data)
    return path


# ----------------------------------------------------------------------------------------------------------- layouts
def test_sovits_round_trip_identical_tensors(sovits_file: Path, sovits_sd):
    cfg, weight, version = load_sovits(sovits_file)
    assert (cfg, version) == (TINY_SOVITS, "v2")
    assert list(weight) == list(sovits_sd)
    for key, tensor in sovits_sd.items():
        assert weight[key].dtype == torch.float16, key
        assert torch.equal(weight[key], tensor.half()), key


def test_sovits_file_has_upstream_layout(sovits_file: Path, sovits_sd):
    raw = _raw(sovits_file)
    assert list(raw) == ["weight", "config", "info"] and raw["info"] == "3epoch_120iteration"
    assert isinstance(raw["config"], HParams)
    assert raw["config"].data.filter_length == 2048 and raw["config"].model.upsample_rates == [10, 8, 8]
    assert raw["config"].train.segment_size == 20480
    assert "dec.ups.0.weight_g" in raw["weight"] and "dec.ups.0.weight" not in raw["weight"]
    with zipfile.ZipFile(sovits_file) as zf:
        pickle_bytes = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    assert b"cutils\nHParams\n" in pickle_bytes  # GLOBAL opcode naming upstream's class
    assert b"sovits_core" not in pickle_bytes


def test_version_marker_round_trip(tmp_path: Path, sovits_sd):
    path = tmp_path / "marked.pth"
    save_sovits(path, TINY_SOVITS, sovits_sd, version_marker=True)
    assert path.read_bytes()[:2] == b"01" and read_marker(path) == "v2"
    cfg, weight, version = load_sovits(path)
    assert version == "v2" and torch.equal(weight["ssl_proj.weight"], sovits_sd["ssl_proj.weight"].half())


def test_gpt_round_trip(tmp_path: Path):
    sd = seeded_state_dict(TINY_CONFIG, seed=3)
    path = tmp_path / "gpt.ckpt"
    save_gpt(path, TINY_CONFIG, sd, info="GPT-e7")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert list(raw) == ["weight", "config", "info"] and raw["info"] == "GPT-e7"
    assert all(k.startswith("model.") for k in raw["weight"])
    assert raw["config"]["model"]["n_layer"] == TINY_CONFIG.n_layers
    cfg, loaded = load_gpt(path)
    assert cfg == TINY_CONFIG and list(loaded) == list(sd)
    assert all(torch.equal(loaded[k], sd[k].half()) for k in sd)


def test_weight_norm_pairs_fold_on_load(sovits_sd):
    model = SynthesizerTrnV2(TINY_SOVITS)
    upstream = dict(sovits_sd)
    upstream["dec.ups.1.weight_v"] = upstream["dec.ups.1.weight_v"] * 3.5  # g * v / |v| ignores v's scale
    upstream["enc_q.pre.weight"] = torch.zeros(3)  # training-only tensors are dropped
    model.load_weights(upstream)
    assert not any(name.endswith(("weight_g", "weight_v")) for name, _ in model.named_parameters())
    expected = fuse_weight_norm(sovits_sd["dec.ups.1.weight_g"], sovits_sd["dec.ups.1.weight_v"])
    torch.testing.assert_close(model.dec.ups[1].weight, expected)


# ----------------------------------------------------------------------------------------------------------- versions
@pytest.mark.parametrize(
    ("marker", "version"),
    [(b"00", "v1"), (b"02", "v3"), (b"03", "v3"), (b"04", "v4"), (b"05", "v2Pro"), (b"06", "v2ProPlus")],
)
def test_unsupported_version_markers(tmp_path: Path, sovits_file: Path, marker: bytes, version: str):
    path = tmp_path / "other.pth"
    path.write_bytes(marker + sovits_file.read_bytes()[2:])
    with pytest.raises(UnsupportedVersion, match=f"version {version};") as info:
        load_sovits(path)
    assert info.value.version == version and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("edit", "version"),
    [
        ("v1_symbols", "v1"),
        ("sv_emb", "v2Pro"),
        ("cfm", "v3/v4"),
    ],
)
def test_unsupported_versions_by_shapes(tmp_path: Path, sovits_sd, edit: str, version: str):
    weight = {k: v.half() for k, v in sovits_sd.items()}
    if edit == "v1_symbols":
        weight["enc_p.text_embedding.weight"] = torch.zeros(322, TINY_SOVITS.hidden_channels).half()
    elif edit == "sv_emb":
        weight["sv_emb.weight"] = torch.zeros(16, 20480).half()
    else:
        weight.pop("enc_p.text_embedding.weight")
        weight["cfm.proj.weight"] = torch.zeros(2, 2).half()
    path = _write_official(tmp_path / "x.pth", weight, HParams(**TINY_SOVITS.to_hparams()))
    with pytest.raises(UnsupportedVersion, match=f"version {version}"):
        load_sovits(path)


def test_gpt_v1_refused(tmp_path: Path):
    sd = seeded_state_dict(TINY_CONFIG, seed=0)
    path = tmp_path / "gpt.ckpt"
    save_gpt(path, TINY_CONFIG, sd)
    raw = torch.load(path, weights_only=True)
    raw["config"]["model"]["phoneme_vocab_size"] = 512
    torch.save(raw, path)
    with pytest.raises(UnsupportedVersion, match="GPT checkpoint is GPT-SoVITS version v1"):
        load_gpt(path)


# ----------------------------------------------------------------------------------------------------------- key errors
def test_missing_unexpected_and_mismatched_keys_are_named(tmp_path: Path, sovits_sd):
    base = {k: v.half() for k, v in sovits_sd.items()}
    config = HParams(**TINY_SOVITS.to_hparams())

    missing = dict(base)
    missing.pop("flow.flows.2.post.bias")
    path = _write_official(tmp_path / "missing.pth", missing, config)
    with pytest.raises(CheckpointError, match=r"missing keys: flow\.flows\.2\.post\.bias") as info:
        load_sovits(path)
    assert str(path) in str(info.value)

    extra = dict(base, **{"dec.extra.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"unexpected keys: dec\.extra\.weight"):
        load_sovits(_write_official(tmp_path / "extra.pth", extra, config))

    wrong = dict(base, **{"ref_enc.fc.fc.bias": torch.zeros(7).half()})
    with pytest.raises(CheckpointError, match=r"shape mismatch: ref_enc\.fc\.fc\.bias \(7,\) \(expected \(16,\)\)"):
        load_sovits(_write_official(tmp_path / "wrong.pth", wrong, config))

    with_enc_q = dict(base, **{"enc_q.proj.weight": torch.zeros(4, 4).half()})
    _, weight, _ = load_sovits(_write_official(tmp_path / "enc_q.pth", with_enc_q, config))
    assert "enc_q.proj.weight" not in weight and len(weight) == len(base)


def test_gpt_key_errors(tmp_path: Path):
    sd = seeded_state_dict(TINY_CONFIG, seed=0)
    key = next(iter(sd))
    path = tmp_path / "gpt.ckpt"
    save_gpt(path, TINY_CONFIG, sd)
    raw = torch.load(path, weights_only=True)
    raw["weight"].pop("model." + key)
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=f"missing keys: {key}"):
        load_gpt(path)
    raw["weight"]["other." + key] = sd[key]
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="must start with 'model.'"):
        load_gpt(path)
    with pytest.raises(CheckpointError, match="missing keys"):
        save_gpt(tmp_path / "bad.ckpt", TINY_CONFIG, {k: v for k, v in sd.items() if k != key})


# ----------------------------------------------------------------------------------------------------------- safety
class _Payload:
    """Pickles as a call to ``exec`` that creates a file: what a malicious checkpoint would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return exec, (f"open({str(self.target)!r}, 'w').close()",)


def test_code_running_pickle_is_refused_and_never_runs(tmp_path: Path, sovits_sd):
    # the payload is real: a plain unpickle runs it
    proof = tmp_path / "proof"
    torch.save({"weight": {"x": _Payload(proof)}, "config": {}}, tmp_path / "proof.pth")
    torch.load(tmp_path / "proof.pth", weights_only=False)
    assert proof.exists()

    target = tmp_path / "pwned"
    evil = {"weight": {"ssl_proj.weight": _Payload(target)}, "config": HParams(**TINY_SOVITS.to_hparams())}
    plain = tmp_path / "evil.pth"
    torch.save(evil, plain)
    marked = tmp_path / "evil_marked.pth"
    marked.write_bytes(b"01" + plain.read_bytes()[2:])
    for path, loader in ((plain, load_sovits), (marked, load_sovits), (plain, load_gpt)):
        with pytest.raises(CheckpointError, match="refused to load") as info:
            loader(path)
        assert str(path) in str(info.value)
    assert not target.exists()


def test_unreadable_inputs(tmp_path: Path, sovits_file: Path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_sovits(junk)
    text = tmp_path / "text.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a PyTorch zip checkpoint"):
        load_sovits(text)
    with pytest.raises(CheckpointError, match="not found"):
        load_sovits(tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="only local paths"):
        load_gpt("s3://bucket/gpt.ckpt")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_sovits(sovits_file, sha256="0" * 64)
    plain_dict = tmp_path / "dict.pth"
    torch.save({"state_dict": {}}, plain_dict)
    with pytest.raises(CheckpointError, match="expected a dict with 'weight' and 'config'"):
        load_sovits(plain_dict)


# ----------------------------------------------------------------------------------------------------------- make_model
def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_tiny_model_folder_is_complete_and_official(tiny_model_dir: Path):
    expected = {
        "gpt.ckpt",
        "sovits.pth",
        "chinese-hubert-base/config.json",
        "chinese-hubert-base/model.safetensors",
        "chinese-hubert-base/preprocessor_config.json",
        "chinese-roberta-wwm-ext-large/config.json",
        "chinese-roberta-wwm-ext-large/model.safetensors",
        "chinese-roberta-wwm-ext-large/vocab.txt",
        "chinese-roberta-wwm-ext-large/tokenizer.json",
    }
    assert expected <= set(_digests(tiny_model_dir))
    cfg, _, version = load_sovits(tiny_model_dir / "sovits.pth")
    assert (cfg, version) == (TINY_SOVITS, "v2")
    assert load_gpt(tiny_model_dir / "gpt.ckpt")[0] == gpt_config("tiny")
    assert gpt_config("tiny").max_sec < TINY_CONFIG.max_sec  # the tiny model's GPT is capped short for fast tests
    vocab = (tiny_model_dir / "chinese-roberta-wwm-ext-large" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and "的" in vocab and "，" in vocab
    for name in ("gpt.ckpt", "sovits.pth", "chinese-hubert-base/model.safetensors"):
        assert (tiny_model_dir / name).stat().st_size < 1_000_000, name


def test_make_model_is_deterministic_per_seed(tmp_path: Path):
    from sovits_core.testing.make_model import main, make_model

    assert main([str(tmp_path / "a"), "--size", "tiny", "--seed", "3"]) == 0
    make_model(tmp_path / "b", "tiny", seed=3)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    make_model(tmp_path / "c", "tiny", seed=4)
    assert _digests(tmp_path / "c")["sovits.pth"] != _digests(tmp_path / "a")["sovits.pth"]
    with pytest.raises(ValueError, match="size"):
        make_model(tmp_path / "d", "huge")

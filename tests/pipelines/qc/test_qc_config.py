"""QC configuration: presets, files, and refusals that name the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.qc.config import PRESETS, QCConfigError, QCSettings, from_mapping, load_qc_config, preset


def test_presets() -> None:
    default = preset("default")
    assert default.enforce and "asr" not in default.enabled and "speaker" in default.enabled
    assert preset("report-only").mode == "report" and not preset("report-only").enforce
    assert preset("report-only").thresholds == default.thresholds
    assert not preset("off").active and not preset("off").enforce
    assert (
        preset("strict").param("speaker", "min")
        > default.param("speaker", "min")
        > preset("lenient").param("speaker", "min")
    )
    assert set(PRESETS) == {"default", "strict", "lenient", "report-only", "off"}


def test_file_overrides_and_disables(tmp_path: Path) -> None:
    doc = {"preset": "strict", "mode": "report", "disable": ["level"], "checks": {"speaker": {"min": 0.8}}}
    (tmp_path / "qc.json").write_text(json.dumps(doc))
    config = load_qc_config(str(tmp_path / "qc.json"))
    assert config.mode == "report" and "level" not in config.enabled and config.param("speaker", "min") == 0.8
    (tmp_path / "qc.yaml").write_text("checks:\n  asr: {max_error: 0.5}\n")
    assert load_qc_config(str(tmp_path / "qc.yaml")).param("asr", "max_error") == 0.5


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"checks": {"speling": {"min": 1}}}, "qc.checks.speling: unknown check"),
        ({"checks": {"speaker": {"max": 0.9}}}, "qc.checks.speaker.max: unknown parameter"),
        ({"checks": {"speaker": {"min": 1.5}}}, r"qc.checks.speaker.min: 1.5 is outside \[-1.0, 1.0\]"),
        ({"checks": {"clipping": {"max": "a lot"}}}, "qc.checks.clipping.max: 'a lot' is not a number"),
        ({"checks": {"token_rate": {"min": 3, "max": 2}}}, "qc.checks.token_rate: min 3.0 is above max 2.0"),
        ({"mode": "shout"}, "qc.mode: 'shout' is not one of enforce, report"),
        ({"disable": ["nope"]}, "qc.disable: unknown check 'nope'"),
        ({"threshold": {}}, "qc.threshold: unknown key"),
        ({"preset": "fast"}, "--qc fast: not a preset"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(doc: dict, message: str) -> None:
    with pytest.raises(QCConfigError, match=message):
        from_mapping(doc)


def test_bad_flags(tmp_path: Path) -> None:
    with pytest.raises(QCConfigError, match="--qc missing.json: cannot read the file"):
        QCSettings(qc=str(tmp_path / "missing.json").replace(str(tmp_path) + "/", ""))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(QCConfigError, match="not valid JSON"):
        QCSettings(qc=str(tmp_path / "broken.json"))
    with pytest.raises(QCConfigError, match="--qc-retries 99"):
        QCSettings(qc_retries=99)
    with pytest.raises(QCConfigError, match="--asr-backend whisper needs --asr-model"):
        QCSettings(asr_backend="whisper")
    assert "asr" in QCSettings(asr_backend="pocketsphinx").config.enabled
    assert "asr" not in QCSettings().config.enabled

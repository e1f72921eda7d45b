"""Small manifests for tests and benchmarks."""

import pyarrow as pa


def two_voice_table(clip_name: str = "mei.wav") -> pa.Table:
    """Voices manifest with two voices from one clip: ``zh_a`` (with transcript) and ``zh_b`` (reference-free)."""
    return pa.table(
        {
            "voice_id": ["zh_a", "zh_b"],
            "ref_audio": [[clip_name], [clip_name]],
            "ref_text": ["今天天气很好，我们一起去公园散步吧。", None],
            "ref_lang": ["zh", "zh"],
        }
    )

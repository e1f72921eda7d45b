"""Write ``utterances.parquet``: the example utterance manifest the demo synthesizes.

Run ``python manifests/examples/make_utterances.py`` to regenerate it. Mixed voices, languages and settings,
one row with a long text that gets segmented.
"""

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


HERE = Path(__file__).resolve().parent

ROWS = [
    {"id": "zh-0001", "voice_id": "zh_mei", "lang": "zh", "text": "欢迎使用sovits-batch，我们用GPU训练模型。"},
    {"id": "zh-0002", "voice_id": "zh_mei", "lang": "zh", "text": "今天是2024年5月3日，气温25℃，降水概率30%。"},
    {"id": "en-0001", "voice_id": "en_alice", "lang": "en", "text": "Hello! This is the first example sentence."},
    {
        "id": "en-0002",
        "voice_id": "en_bob",
        "lang": "en",
        "text": "Dr. Smith paid $3.50 for 2 coffees on Jan. 5th.",
        "speed": 1.2,
    },
    {
        "id": "mix-0001",
        "voice_id": "en_alice",
        "lang": "auto",
        "text": "这是一个mixed language的例子, with English words.",
    },
    {
        "id": "long-0001",
        "voice_id": "zh_mei",
        "lang": "zh",
        "seed": 7,
        "text": "第一章。天色渐渐暗了下来，街上的行人越来越少。她站在窗前，看着远处的灯火。\n"
        "过了很久，她才轻轻地叹了一口气，转身走回了房间。",
    },
]


def main() -> int:
    cols = ["id", "text", "voice_id", "lang", "seed", "speed"]
    table = pa.table(
        {c: [r.get(c) for r in ROWS] for c in cols},
        schema=pa.schema(
            [
                ("id", pa.string()),
                ("text", pa.string()),
                ("voice_id", pa.string()),
                ("lang", pa.string()),
                ("seed", pa.int64()),
                ("speed", pa.float64()),
            ]
        ),
    )
    pq.write_table(table, HERE / "utterances.parquet")
    return 0


if __name__ == "__main__":
    sys.exit(main())

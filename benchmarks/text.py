"""Text frontend throughput: characters per second for Chinese and English on one CPU core, BERT excluded.

Usage::

    python benchmarks/text.py [--seconds 5] [--whole]

Each language's corpus (original prose written for this benchmark, below) is cut like the synthesis stage does it
(``split_text(..., "cut5", lang=...)``) and every segment goes through ``text_to_phones``; ``--whole`` instead sends
each paragraph in one call. The process is pinned to one core with torch/BLAS threads = 1. The first pass is reported
separately (cold per-word caches); the steady figure is the mean over the remaining passes. Target: >= 20,000 chars/s.
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path


for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sovits_core.text import split_text, text_to_phones  # noqa: E402


logger = logging.getLogger("benchmarks.text")
TARGET_CHARS_PER_S = 20_000

ZH_CORPUS = [
    "清晨的薄雾还没有散去，老街上的早点铺子已经冒起了热气。卖豆浆的王大爷一边吆喝，一边把刚出锅的油条摆在竹筐里。",
    "李明今年二十八岁，在一家做机器人的公司当工程师。他每天早上七点半出门，骑二十分钟自行车到公司，风雨无阻。",
    "会议从上午九点开始，一直开到中午十二点半。大家讨论了下个季度的计划，最后决定把预算提高百分之十五。",
    "图书馆三楼的阅览室很安静，只能听见翻书的声音。窗外的梧桐树叶子黄了，一阵风吹过，落叶像蝴蝶一样飞舞。",
    "这座城市有两千多年的历史，古老的城墙至今保存完好。每到节假日，游客们从全国各地赶来，只为看一眼夕阳下的城楼。",
    "妈妈在厨房里忙着包饺子，爸爸在客厅里看新闻，弟弟趴在桌子上写作业，时不时抬头问一道数学题怎么做。",
    "研究人员发现，适量的运动可以明显改善睡眠质量。参加实验的一百二十名志愿者中，有八成的人表示睡得更好了。",
    "火车穿过一条又一条隧道，窗外的风景不断变换：一会儿是金黄的稻田，一会儿是碧绿的竹林，一会儿又是安静的小村庄。",
    "他把那封信读了一遍又一遍，始终不敢相信这是真的。十年没有消息的老朋友，竟然要在下个月回国了。",
    "天气预报说明天有大到暴雨，气温会下降五到八度。请市民朋友们注意出行安全，尽量减少不必要的外出。",
    "小店的老板娘是个热心肠，谁家有困难她都愿意帮一把。街坊邻居们都说，有她在，这条巷子就多了几分人情味。",
    "经过三年的努力，这个团队终于完成了新型电池的研发。新电池的容量比旧款提高了一倍，充电时间却缩短了一半。",
]

EN_CORPUS = [
    "The morning fog still hung over the harbor when the first fishing boats returned, their decks crowded with "
    "nets, buckets and a few exhausted gulls that had followed them all the way from the open sea.",
    "Margaret had worked at the observatory for nearly twenty years, and she could name every star visible from "
    "the northern hills without once looking at a chart or asking the younger astronomers for help.",
    "On Tuesday the committee met again to discuss the budget, but after three hours of careful arguments they "
    "agreed only that the library roof should be repaired before the autumn storms arrived.",
    "Scientists studying migratory birds have found that some species adjust their routes every year, using "
    "changes in wind patterns, temperature and daylight to choose the safest and shortest path south.",
    "The train rattled through tunnels and across narrow bridges, and every few minutes the window framed a new "
    "picture: golden fields, quiet villages, a river shining under the pale afternoon light.",
    "He read the letter twice before folding it neatly and placing it in his coat pocket, unsure whether the news "
    "it carried was a gift, a warning, or simply the beginning of a much longer story.",
    "In the small bakery on the corner, the owner started work at four o'clock every morning, kneading dough by "
    "hand because she believed machines could never quite capture the rhythm of good bread.",
    "The museum's new exhibition brings together paintings, maps and handwritten journals from explorers who "
    "crossed the desert more than a century ago, long before roads or reliable water supplies existed.",
    "When the storm finally passed, neighbors gathered in the street to clear fallen branches, share hot coffee "
    "and exchange stories about the loud thunder that had kept everyone awake through the night.",
    "Learning a musical instrument as an adult requires patience, but many beginners discover that regular "
    "practice, even for fifteen minutes a day, brings steady progress and a surprising amount of joy.",
]


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _units(corpus: list[str], lang: str, whole: bool) -> list[str]:
    if whole:
        return corpus
    return [seg.text for para in corpus for seg in split_text(para, "cut5", lang=lang)]


def _one_pass(units: list[str], lang: str) -> float:
    start = time.perf_counter()
    for unit in units:
        text_to_phones(unit, lang)
    return time.perf_counter() - start


def measure(corpus: list[str], lang: str, seconds: float, whole: bool) -> tuple[float, float]:
    """Return (first-pass chars/s, steady chars/s) for ``corpus`` in ``lang``."""
    units = _units(corpus, lang, whole)
    n_chars = sum(len(unit) for unit in units)
    text_to_phones("预热。" if lang == "zh" else "Warm up.", lang)  # load dictionaries / models once
    first = n_chars / _one_pass(units, lang)
    elapsed, passes = 0.0, 0
    while elapsed < seconds or passes == 0:
        elapsed += _one_pass(units, lang)
        passes += 1
    return first, n_chars * passes / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per language (steady passes)")
    parser.add_argument("--whole", action="store_true", help="one text_to_phones call per paragraph, no split_text")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    _pin_to_one_core()
    ok = True
    for lang, corpus in (("zh", ZH_CORPUS), ("en", EN_CORPUS)):
        first, steady = measure(corpus, lang, args.seconds, args.whole)
        ok &= steady >= TARGET_CHARS_PER_S
        print(
            f"{lang}: {steady:10,.0f} chars/s steady   {first:10,.0f} chars/s first pass   (target {TARGET_CHARS_PER_S:,})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

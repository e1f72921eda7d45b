"""CJK punctuation -> v2 punctuation symbols, shared by the Chinese, Japanese and Korean frontends (as upstream)."""

CJK_MARKS: dict[str, str] = {
    "：": ",",
    "；": ",",
    "，": ",",
    "。": ".",
    "！": "!",
    "？": "?",
    "\n": ".",
    "·": ",",
    "、": ",",
}

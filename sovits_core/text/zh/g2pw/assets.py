"""Reading a G2PW model folder: file checks, ``config.py`` settings, label tables and dictionaries."""

import ast
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import TextError


logger = logging.getLogger(__name__)

TOKENIZER_SUBDIR = "chinese-roberta-wwm-ext-large"
ONNX_NAMES = ("g2pW.onnx", "g2pw.onnx")
REQUIRED_FILES = (
    "config.py",
    "POLYPHONIC_CHARS.txt",
    "MONOPHONIC_CHARS.txt",
    "bopomofo_to_pinyin_wo_tune_dict.json",
    "polyphonic.rep",
    "polyphonic-fix.rep",
)
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json")

# Characters upstream never sends to the model although they are in its polyphonic list, and the reverse.
NON_POLYPHONIC = frozenset("一不和咋嗲剖差攢倒難奔勁拗肖瘙誒泊听噢")
NON_MONOPHONIC = frozenset("似攢")


class G2PWModelError(TextError):
    """The G2PW model folder is incomplete or unreadable (the message names the folder and the files)."""


@dataclass(frozen=True)
class G2PWPaths:
    """Resolved files of a G2PW model folder."""

    folder: Path
    onnx: Path
    tokenizer: Path

    def file(self, name: str) -> Path:
        return self.folder / name


def resolve_paths(folder: str | Path, tokenizer_dir: str | Path | None = None) -> G2PWPaths:
    """Check that every file G2PW needs is present.

    Raises:
        G2PWModelError: listing every missing file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise G2PWModelError(f"G2PW model folder {str(folder)!r} does not exist or is not a directory")
    tokenizer = Path(tokenizer_dir) if tokenizer_dir is not None else folder / TOKENIZER_SUBDIR
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    onnx = next((folder / name for name in ONNX_NAMES if (folder / name).is_file()), None)
    if onnx is None:
        missing.append(" or ".join(ONNX_NAMES))
    if not any((tokenizer / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"{tokenizer} (BERT tokenizer folder with {' or '.join(TOKENIZER_FILES)})")
    if missing:
        hint = (
            " (polyphonic*.rep come from upstream GPT_SoVITS/text/g2pw/)" if any(".rep" in m for m in missing) else ""
        )
        raise G2PWModelError(f"G2PW model folder {str(folder)!r} is incomplete; missing: {', '.join(missing)}{hint}")
    return G2PWPaths(folder=folder, onnx=onnx, tokenizer=tokenizer)  # type: ignore[arg-type]


def read_config(path: Path) -> dict[str, object]:
    """Literal top-level assignments of G2PW's ``config.py`` (parsed, never executed)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise G2PWModelError(f"cannot read G2PW config {str(path)!r}: {exc}") from exc
    settings: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                settings[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return settings


def read_char_table(path: Path) -> list[tuple[str, str]]:
    """``char<TAB>phoneme`` lines (POLYPHONIC_CHARS.txt / MONOPHONIC_CHARS.txt)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").strip().split("\n"), start=1):
        parts = line.split("\t")
        if len(parts) != 2:
            raise G2PWModelError(f"{str(path)!r} line {number}: expected 'char<TAB>phoneme', got {line!r}")
        rows.append((parts[0], parts[1]))
    return rows


def read_json(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise G2PWModelError(f"cannot read {str(path)!r}: {exc}") from exc


def read_pronunciation_dict(*paths: Path) -> dict[str, list[str]]:
    """``word: ['pin1', 'yin1']`` lines; later files override earlier ones (upstream's polyphonic*.rep)."""
    entries: dict[str, list[str]] = {}
    n_skipped = 0
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition(":")
            try:
                readings = ast.literal_eval(value.strip()) if sep else None
            except (ValueError, SyntaxError):
                readings = None
            key = key.strip()
            if not isinstance(readings, list) or len(readings) != len(key) or not key:
                n_skipped += int(bool(line.strip()))
                continue
            entries[key] = [str(reading) for reading in readings]
    if n_skipped:
        logger.warning("skipped %d malformed pronunciation entries in %s", n_skipped, [str(p) for p in paths])
    return entries


@dataclass(frozen=True)
class LabelTables:
    """Model output labels and, per polyphonic character, the label ids it may take."""

    labels: list[str]
    char_label_ids: dict[str, list[int]]
    chars: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, polyphonic: list[tuple[str, str]], char_phoneme_labels: bool) -> "LabelTables":
        names = [f"{char} {phoneme}" if char_phoneme_labels else phoneme for char, phoneme in polyphonic]
        labels = sorted(set(names))
        index = {label: i for i, label in enumerate(labels)}
        char_label_ids: dict[str, list[int]] = {}
        for (char, _), name in zip(polyphonic, names, strict=True):
            char_label_ids.setdefault(char, []).append(index[name])
        return cls(labels=labels, char_label_ids=char_label_ids, chars=sorted(char_label_ids))

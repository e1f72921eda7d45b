"""Homograph table: words whose pronunciation depends on part of speech ("refuse", "present", "read" ...).

The table is g2p_en's ``homographs.en`` (read from the installed package files) with upstream GPT-SoVITS's two
corrections: "read" keys on ``VBP`` and "complex" on ``JJ``.
"""

from dataclasses import dataclass
from pathlib import Path

from sovits_core.text.en.resources import EnglishResourceError, g2p_en_file


@dataclass(frozen=True)
class Homograph:
    """``first`` is used when the POS tag matches ``pos`` (see :meth:`choose`), ``second`` otherwise."""

    first: tuple[str, ...]
    second: tuple[str, ...]
    pos: str

    def choose(self, tag: str) -> tuple[str, ...]:
        """Upstream's rule: tag starts with ``pos``, or ``tag`` is a shorter prefix of ``pos`` ("VB" for "VBP")."""
        if tag.startswith(self.pos) or (len(tag) < len(self.pos) and tag == self.pos[: len(tag)]):
            return self.first
        return self.second


UPSTREAM_OVERRIDES: dict[str, Homograph] = {
    "read": Homograph(("R", "IY1", "D"), ("R", "EH1", "D"), "VBP"),
    "complex": Homograph(
        ("K", "AH0", "M", "P", "L", "EH1", "K", "S"), ("K", "AA1", "M", "P", "L", "EH0", "K", "S"), "JJ"
    ),
}


def load_homographs(path: Path | None = None) -> dict[str, Homograph]:
    """Parse ``HEADWORD|PRON1|PRON2|POS`` lines (``#`` comments) and apply upstream's overrides.

    Raises:
        EnglishResourceError: the file is missing or a line is malformed.
    """
    path = path or g2p_en_file("homographs.en")
    table: dict[str, Homograph] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("#"):
            continue
        fields = line.strip().split("|")
        if len(fields) != 4:
            raise EnglishResourceError(f"{path}:{number}: expected HEADWORD|PRON1|PRON2|POS, got {line!r}")
        head, first, second, pos = fields
        table[head.lower()] = Homograph(tuple(first.split()), tuple(second.split()), pos)
    table.update(UPSTREAM_OVERRIDES)
    return table

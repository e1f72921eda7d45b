"""The audiobook mode on the engine: ``render`` and ``rerender`` (``jobs.audiobook`` is their command line).

The book is read and checked on the driver before anything runs (a bad EPUB, an empty chapter, a voice the markup
names but the bank lacks, a bad lexicon entry: one line, exit 2). Its segments are the engine's rows, synthesized by
the synthesis stage (QC, retries) into ``segments/``; :class:`~pipelines.audiobook.book.BookBuilder` stitches each
chapter as it completes and writes the book's outputs under OUT: ``chapters/``, ``captions/``, ``timeline.parquet``,
``book.m4b``, ``report.html``. The render's settings are kept in ``_job/audiobook.json`` so ``rerender`` needs only
``--out``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import IO, Any

from pipelines.audiobook.book import BookBuilder, chapter_plans, preset_for
from pipelines.audiobook.plan import MAX_SEGMENT_CHARS, chapter_segments, rows_table
from pipelines.books.errors import BookError
from pipelines.engine import EngineConfig, InputError, Mode, Prepared, StageSpec, require_shared, run_sharded_job
from pipelines.engine.compaction import EXIT_FAILED_ROWS, EXIT_INVALID, EXIT_OK
from pipelines.engine.flags import ConfigError, from_flat, setting, to_flat
from pipelines.model_cache import ModelConfig
from pipelines.qc.config import QCSettings
from pipelines.storage import Storage, StorageNotFound, get_storage, split_url


logger = logging.getLogger(__name__)

CONFIG_FILE = "_job/audiobook.json"
LEXICON_DIR = "_job/lexicon"
FORMATS = ("mp3", "flac", "opus", "m4a")
MASTERS = ("none", "standard", "acx")


@dataclass(frozen=True)
class BookInput:
    """Which book, which chapters, in which voice."""

    book: str = setting(help="the book: .epub, .txt, .md, or a chapters manifest (.parquet/.jsonl); any fsspec URL")
    voice: str = setting(help="the narrator: a voice id of the voice bank ([voice x]...[/voice] switches passages)")
    chapters: str | None = setting(
        None, help="chapters to render as inspect numbers them: 3-7 or 1,4,9 (default: all)"
    )
    include_front: bool = setting(
        False, help="also render front matter (title page, copyright...; skipped by default)"
    )
    include_back: bool = setting(False, help="also render back matter (about the author...; skipped by default)")
    lexicon: str | None = setting(None, help="pronunciation lexicon: CSV or JSON, word -> respelling or phones")
    language: str | None = setting(None, help="language of the text: zh en ja ko yue auto (default: the book's)")


@dataclass(frozen=True)
class BookOutput:
    """How the chapters are finished."""

    master: str = setting("standard", help="mastering: standard (-18 LUFS), acx (ACX spec, 192k MP3), none",
                          choices=MASTERS)  # fmt: skip
    chapter_format: str | None = setting(None, flag="--format", choices=FORMATS,
                                         help="chapter file format (default: the preset's: m4a, mp3 for acx)")  # fmt: skip
    no_m4b: bool = setting(False, help="do not build the .m4b")

    def __post_init__(self) -> None:
        if self.master == "acx" and self.chapter_format not in (None, "mp3"):
            raise ConfigError(f"--format {self.chapter_format}: ACX takes 192 kbps CBR MP3 (drop --format for acx)")


@dataclass(frozen=True)
class AudiobookConfig:
    """Everything a render needs."""

    book: BookInput
    model: ModelConfig
    qc: QCSettings
    output: BookOutput
    engine: EngineConfig
    voices: str = setting("", help="voice bank URL (built by jobs.precompute_voices)")
    batch_size: int = setting(8, help="text segments per model call (voices mixed)")
    max_new_tokens: int | None = setting(None, help="cap on semantic tokens per segment (default: the model's)")

    FLAG_DEFAULTS = {"rows_per_shard": 64}

    def __post_init__(self) -> None:
        if not self.voices:
            raise ConfigError("--voices: a voice bank is required")


@dataclass(frozen=True)
class RerenderConfig:
    """What to redo in a rendered book (its other settings come from the render)."""

    engine: EngineConfig
    segments: str | None = setting(None, help="segment ids to redo with new seeds, comma-separated (timeline.parquet)")
    chapter: int | None = setting(None, help="redo every segment of this chapter (its number in inspect)")
    new_lexicon: str | None = setting(None, flag="--lexicon",
                                      help="a changed lexicon: redo the segments whose words it changes")  # fmt: skip

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.segments, self.chapter, self.new_lexicon)) != 1:
            raise ConfigError("rerender needs exactly one of --segments, --chapter, --lexicon")


def parse_chapters(spec: str | None, available: list[int]) -> list[int]:
    """``3-7,9`` -> [3, 4, 5, 6, 7, 9] (chapters that exist), every chapter when ``spec`` is None."""
    if spec is None:
        return available
    chosen: set[int] = set()
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise InputError(f"--chapters {spec}: {part!r} is not a number or a range like 3-7")
        low, high = int(match[1]), int(match[2] or match[1])
        chosen.update(range(low, high + 1))
    missing = sorted(chosen - set(available))
    if missing:
        raise InputError(
            f"--chapters {spec}: the book has no chapter {missing[0]} (it has {available[0]}-{available[-1]})"
        )
    return sorted(chosen)


class AudiobookMode(Mode):
    """A book -> segments (rows) -> chapters, captions, timeline, M4B."""

    name = "audiobook"
    input_errors = (BookError,)
    output_prefixes = ("segments", "quarantine", "chapters", "captions", "timeline.parquet", "book.m4b", "_job/chapters",
                       "_job/m4b.json")  # fmt: skip

    def __init__(self, config: AudiobookConfig, *, rerender: RerenderConfig | None = None) -> None:
        self.config, self.rerender = config, rerender
        self.accept_settings = rerender is not None  # a re-render may change the lexicon on purpose
        self.redo_ids: set[str] = set()
        self.book: Any = None
        self.lexicon: Any = None
        self.rows: Any = None
        self.builder: BookBuilder | None = None
        self.stage_config: Any = None

    # ---------------------------------------------------------------------------------------------- driver checks
    def check(self, in_process: bool) -> None:
        from pipelines.books import Lexicon, check_markup, read_book
        from pipelines.voice_bank import VoiceBank

        c = self.config
        for url, flag in ((c.book.book, "--book"), (c.voices, "--voices"), (c.model.model_dir, "--model-dir")):
            require_shared(url, flag, in_process)
        model = c.model.prepared()
        self.book = read_book(c.book.book, include_front=c.book.include_front, include_back=c.book.include_back)
        bank = VoiceBank(c.voices, model_fingerprint=model.model_fingerprint)
        verdict = bank.check(c.book.voice)
        if verdict is not True:
            raise InputError(f"--voice {c.book.voice}: {verdict or 'not in the voice bank ' + c.voices}")
        problems = check_markup(self.book, set(bank.voice_ids()))
        if problems:
            raise InputError(problems[0])
        self.lexicon = Lexicon.load(c.book.lexicon) if c.book.lexicon else None
        self.stage_config = self._stage_config(model)

    def _stage_config(self, model: ModelConfig) -> Any:
        from pipelines.synthesis import SynthesisStageConfig

        c = self.config
        return SynthesisStageConfig(model=model, qc=c.qc, voices=c.voices, audio_format="flac", batch_size=c.batch_size,
                                    max_new_tokens=c.max_new_tokens, max_row_chars=10 * MAX_SEGMENT_CHARS,
                                    audio_prefix="segments", lexicon=self.lexicon)  # fmt: skip

    def _lang(self) -> str:
        language = self.config.book.language or self.book.language
        return language if language in ("zh", "en", "ja", "ko", "yue") else "auto"

    def prepare(self) -> Prepared:
        from pipelines.books import parse_markup

        chapters = {ch.index: ch for ch in self.book.chapters}
        chosen = parse_chapters(self.config.book.chapters, sorted(chapters))
        segments = []
        for index in chosen:
            chapter = chapters[index]
            spans = parse_markup(chapter.body_text, where=chapter.where)
            segments.extend(chapter_segments(index, chapter.title, spans, chapter.voice_id or self.config.book.voice,
                                             self._lang()))  # fmt: skip
        self.rows = rows_table(segments, book_key=self.book.title)
        if not self.rows.num_rows:
            raise InputError(f"{self.config.book.book}: nothing to read in the chapters chosen")
        if self.rerender is not None:
            self.redo_ids = _redo_ids(self.rerender, get_storage(self.config.engine.out), self.rows, self.lexicon)
            logger.info("re-rendering %d segment(s) with new seeds", len(self.redo_ids))
        return Prepared(self.rows, self.config.book.book)

    def stage(self, attempt: str) -> StageSpec:
        from pipelines.synthesis import SynthesisStage

        return StageSpec(SynthesisStage, self.stage_config)

    def settings(self) -> dict[str, Any]:
        out = self.config.output
        lexicon = lexicon_digest(self.lexicon)
        return {**self.stage_config.output_settings(), "master": out.master, "format": out.chapter_format,
                "lexicon": lexicon}  # fmt: skip

    def redo_rows(self) -> frozenset[int]:
        if not self.redo_ids:
            return frozenset()
        ids = self.rows.column("id").to_pylist()
        return frozenset(self.rows.column("row")[ids.index(i)].as_py() for i in self.redo_ids if i in ids)

    def summary_addons(self) -> tuple[tuple[str, Any], ...]:
        from pipelines.qc.summary import QCTotals

        config = self.stage_config.qc.config.to_dict()
        return (("qc", lambda: QCTotals(config)),)

    # ---------------------------------------------------------------------------------------------- as it runs
    def _builder(self, storage: Storage) -> BookBuilder:
        if self.builder is None:
            titles = {ch.index: ch.title for ch in self.book.chapters}
            preset = preset_for(self.config.output.master, self.config.output.chapter_format)
            self.builder = BookBuilder(storage, chapter_plans(self.rows, titles), preset)
        return self.builder

    def shard_done(self, storage: Storage, shard: int) -> None:
        from pipelines.engine.compaction import latest_per_row, read_parts
        from pipelines.engine.plan import list_parts

        table = latest_per_row(read_parts(storage, list_parts(storage, shard), self.result_schema))
        self._builder(storage).add_results(table.to_pylist())

    def pool_done(self, storage: Storage) -> None:
        self._builder(storage).wait()

    def finish(self, storage: Storage, summary: dict[str, Any]) -> dict[str, Any] | None:
        from manifests.common import read_table
        from pipelines.audiobook.m4b import BookMetadata

        results = read_table(storage, "results.parquet").to_pylist()
        book = self.book
        metadata = BookMetadata(book.title, book.author, book.language or "und", book.cover, book.cover_type)
        audiobook = self._builder(storage).finish(results, metadata, not self.config.output.no_m4b)
        self._save(storage)
        if summary.get("audiobook") != audiobook:
            summary = {**summary, "audiobook": audiobook}
            storage.write_text("summary.json", json.dumps(summary, indent=2, sort_keys=True))
        return summary

    def _save(self, storage: Storage) -> None:
        flat = {k: v for k, v in to_flat(self.config).items() if k not in _ENGINE_FIELDS}
        doc = json.dumps(flat, indent=1, sort_keys=True, default=str)
        if not (storage.exists(CONFIG_FILE) and storage.read_text(CONFIG_FILE) == doc):
            storage.write_text(CONFIG_FILE, doc)
        if self.lexicon is not None:  # the lexicon as it was, so a rerender can tell which words changed
            folder, name = split_url(self.config.book.lexicon)
            data = Storage(folder).read_bytes(name)
            if (
                storage.list(LEXICON_DIR) != [f"{LEXICON_DIR}/{name}"]
                or storage.read_bytes(f"{LEXICON_DIR}/{name}") != data
            ):
                storage.delete(LEXICON_DIR, recursive=True, missing_ok=True)
                storage.write_bytes(f"{LEXICON_DIR}/{name}", data)

    def exit_code(self, summary: dict[str, Any]) -> int:
        book = summary.get("audiobook") or {}
        bad = [
            c
            for c in book.get("chapters", [])
            if c["missing_segments"] or not (c["compliance"] or {"passed": 1})["passed"]
        ]
        for chapter in bad:
            logger.warning("chapter %d (%s): %s", chapter["index"], chapter["title"],
                           f"{len(chapter['missing_segments'])} segment(s) failed" if chapter["missing_segments"]
                           else f"not compliant: {', '.join(chapter['compliance']['failed'])}")  # fmt: skip
        return EXIT_FAILED_ROWS if bad or summary["exit_code"] else EXIT_OK


_ENGINE_FIELDS = {f.name for f in dataclasses.fields(EngineConfig)} | {"resolved", "model_fingerprint"}


def run(config: AudiobookConfig) -> int:
    """``render``: synthesize and finish a book (see the module docstring)."""
    return run_sharded_job(AudiobookMode(config), config.engine)


def rerender(config: RerenderConfig) -> int:
    """``rerender``: redo chosen segments of a rendered book with new seeds; re-stitch only their chapters."""
    storage = get_storage(config.engine.out)
    try:
        flat = json.loads(storage.read_bytes(CONFIG_FILE))
    except StorageNotFound:
        logger.error("invalid input: %s holds no rendered book (%s is missing); run render first",
                     config.engine.out, CONFIG_FILE)  # fmt: skip
        return EXIT_INVALID
    if config.new_lexicon:
        flat["lexicon"] = config.new_lexicon
    render = from_flat(AudiobookConfig, **{**flat, **to_flat(config.engine), "force": False})
    return run_sharded_job(AudiobookMode(render, rerender=config), render.engine)


def _redo_ids(config: RerenderConfig, storage: Storage, rows: Any, lexicon: Any) -> set[str]:
    """The segment ids a rerender redoes: chosen ids, a chapter, or the segments a new lexicon changes."""
    ids, chapters, texts = (rows.column(c).to_pylist() for c in ("id", "chapter", "text"))
    if config.segments:
        wanted = [s.strip() for s in config.segments.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in ids]
        if unknown:
            raise InputError(f"--segments: no segment {unknown[0]} in this book (see timeline.parquet)")
        return set(wanted)
    if config.chapter is not None:
        if config.chapter not in chapters:
            raise InputError(f"--chapter {config.chapter}: not rendered in this book")
        return {i for i, c in zip(ids, chapters, strict=True) if c == config.chapter}
    from pipelines.books import Lexicon

    old = _stored_lexicon(storage) or Lexicon()
    changed = lexicon.words_changed(old)
    return {i for i, text in zip(ids, texts, strict=True) if lexicon.affects(text, changed, "auto")}


def _stored_lexicon(storage: Storage) -> Any:
    from pipelines.books import Lexicon

    names = storage.list(LEXICON_DIR)
    if not names:
        return None
    return Lexicon.from_bytes(storage.read_bytes(names[0]), names[0].rpartition("/")[2])


def lexicon_digest(lexicon: Any) -> str | None:
    """What changes when any entry of the lexicon changes (recorded with the job's settings)."""
    if lexicon is None:
        return None
    return hashlib.sha256("".join(sorted(e.fingerprint() for e in lexicon.entries)).encode()).hexdigest()[:16]


def inspect_book(url: str, *, include_all: bool, out: IO[str]) -> int:
    """``inspect``: print the chapters a book holds (index, title, words, estimated minutes)."""
    from pipelines.books import BookError, format_table, read_book

    try:
        book = read_book(url, include_front=include_all, include_back=include_all)
    except (BookError, StorageNotFound) as exc:
        logger.error("invalid input: %s", exc)
        return EXIT_INVALID
    out.write(format_table(book, include_all=include_all) + "\n")
    return EXIT_OK


__all__ = ["AudiobookConfig", "AudiobookMode", "RerenderConfig", "inspect_book", "rerender", "run"]

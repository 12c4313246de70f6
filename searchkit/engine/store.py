"""One index's Whoosh files: opening and creating them, writers under the lock, searchers, segments.

:class:`Store` is what the rest of searchkit holds of an index. It opens the
directory after :mod:`~searchkit.engine.layout`'s checks, hands out this
thread's searcher (a new one once the index changed), writers with the
searchkit codec under the index lock, and the segments' readers.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from whoosh import index as windex
from whoosh.filedb.filestore import FileStorage, RamStorage
from whoosh.reading import EmptyReader, SegmentReader
from whoosh.util.filelock import try_for

from ..analysis import AnalyzerSettings
from ..errors import CorruptIndexError, IndexVersionError
from .codec import make_codec
from .layout import (
    META_FILE,
    SCHEMA_VERSION,
    check_meta,
    damaged_message,
    existing_directory,
    locked_error,
    meta_extras,
    missing_index_error,
    no_toc_message,
    recorded_settings,
    refuse_other_files,
    write_meta,
    writing_to,
)
from .merge import merge_into
from .schema import make_schema
from .suffixes import has_suffix_file
from .titles import has_title_file
from .version import check_whoosh_version
from .writer import ChildSegment, SearchkitWriter

__all__ = ["PrivateRamStorage", "Store", "write_lock"]

LOCK_NAME = "MAIN_WRITELOCK"


class PrivateRamStorage(RamStorage):  # type: ignore[misc]
    """Whoosh's in-memory storage, with temporary files of its own.

    Whoosh's writer asks for temporary storage named after the index
    (``MAIN.tmp``), which ``RamStorage`` puts in the system's temporary folder:
    two processes writing in-memory indexes at once shared it, and one's
    clean-up deleted the other's files.
    """

    def temp_storage(self, name: str | None = None) -> Any:
        return FileStorage(tempfile.mkdtemp(prefix=f"searchkit-{name or 'temp'}-")).create()


class Store:
    """The Whoosh index of one searchkit index, on disk (``path``) or in memory."""

    def __init__(self, ix: Any, path: Path | None, settings: AnalyzerSettings, schema_version: int = SCHEMA_VERSION) -> None:
        check_whoosh_version()
        self._ix = ix
        self.path = path
        self.settings = settings
        self.schema_version = schema_version  # the index's (see layout.READABLE_SCHEMA_VERSIONS)
        self._local = threading.local()
        # Segment id -> hashes of its article ids (see SearchkitWriter.delete_present).
        self.article_hashes: dict[str, frozenset[int]] = {}
        # Index settings besides the analyzer (layout.meta_extras), and the
        # signature of the searchkit.json they were read from.
        self._extras: dict[str, Any] = {}
        self._extras_signature: tuple[int, int, int] | None = None

    @classmethod
    def in_memory(cls, settings: AnalyzerSettings) -> Store:
        check_whoosh_version()
        return cls(PrivateRamStorage().create_index(make_schema()), None, settings)

    @classmethod
    def open(cls, path: Path, settings: AnalyzerSettings, create: bool = False) -> Store:
        """Open the index at ``path`` (making it, with ``create``), its segments included,
        so that a damaged one is reported now."""
        check_whoosh_version()
        if create and not path.exists():
            with writing_to(path):
                path.mkdir(parents=True)
        existing_directory(path)
        if not (path / META_FILE).exists():
            refuse_other_files(path)
            if not create:
                raise missing_index_error(path)
            with writing_to(path):
                ix = FileStorage(str(path)).create_index(make_schema())
                write_meta(path, settings)
            return cls(ix, path, settings)
        version = check_meta(path, settings)
        store = cls(cls._open_files(path), path, settings, version)
        try:
            store.searcher()
        except Exception as exc:  # Whoosh raises many kinds on damaged files
            raise CorruptIndexError(damaged_message(path, exc)) from exc
        return store

    @staticmethod
    def _open_files(path: Path) -> Any:
        for _attempt in range(20):
            try:
                return FileStorage(str(path)).open_index(schema=make_schema())
            except FileNotFoundError as exc:
                # A writer's commit replaced the table of contents between
                # listing and opening it: read the new one.
                missing = exc
                time.sleep(0.05)
            except Exception as exc:  # Whoosh raises many kinds on damaged files
                raise CorruptIndexError(no_toc_message(path, exc)) from exc
        raise CorruptIndexError(no_toc_message(path, missing)) from missing

    @classmethod
    def open_unchecked(cls, path: Path, settings: AnalyzerSettings) -> Store:
        """Open the Whoosh files whatever searchkit.json says (``check``, ``reindex``); Whoosh's errors pass."""
        check_whoosh_version()
        return cls(FileStorage(str(path)).open_index(schema=make_schema()), path, settings)

    @property
    def char_streams(self) -> bool:
        """Whether paragraphs' characters go to suffix arrays, not postings (an index of characters, not bigrams)."""
        return self.settings.grams == 1

    # -- writing

    def writer(self, lock_timeout: float) -> SearchkitWriter:
        """A segment writer holding the index lock (:class:`IndexLockedError` past ``lock_timeout``;
        :class:`IndexWriteError` if the lock file cannot be written)."""
        try:
            with writing_to(self.path):
                writer = SearchkitWriter(self._ix, timeout=lock_timeout, delay=0.05, codec=make_codec(char_streams=self.char_streams))
        except windex.LockError as exc:
            raise locked_error(self.path, lock_timeout) from exc
        if self.path is not None and recorded_settings(self.path) not in (None, self.settings):
            # Another process changed the analyzer (a user dictionary) since this one opened the index:
            # what it would write now would be segmented otherwise.
            writer.cancel()
            raise IndexVersionError(
                f"index at {self.path} changed its analyzer settings (its user dictionary) since it was opened here: "
                "open it again")
        if self.schema_version != SCHEMA_VERSION and self.path is not None:
            try:  # under the lock: what this writer commits or merges is of the current version
                with writing_to(self.path):
                    write_meta(self.path, self.settings)
                self.schema_version = SCHEMA_VERSION
            except BaseException:
                writer.cancel()
                raise
        return writer

    def child_segment(self, payload: Any, write: Callable[[Any, Any], None]) -> ChildSegment:
        """A segment written by a forked process with ``write(writer, payload)``, for :meth:`SearchkitWriter.add_child`."""
        return ChildSegment(self._ix, payload, write, char_streams=self.char_streams)

    def merge_all(self, lock_timeout: float, progress: Callable[[str, int], None] | None = None) -> tuple[int, int, int]:
        """Merge every segment into one, leaving deleted documents out: (segments before, after, documents dropped).

        ``progress`` gets ``("start", segments + 1)``, an ``("advance", 1)``
        per segment read and one when the merged segment is written.
        """
        readers = self.segment_readers()
        # A lone segment is rewritten where it has deleted documents or lacks a title table.
        outdated = any(_lacks_titles(reader) for reader in readers)
        if len(readers) <= 1 and not outdated and not any(reader.has_deletions() for reader in readers):
            return len(readers), len(readers), 0  # no writer: it would leave files behind
        writer = self.writer(lock_timeout)
        try:
            segments = list(writer.segments)  # under the lock: what is merged
            dropped = sum(segment.deleted_count() for segment in segments)
            if len(segments) <= 1 and not dropped and not outdated:
                writer.cancel()
                return len(segments), len(segments), 0
            if progress:
                progress("start", len(segments) + 1)

            def merge_each(merging: Any, listed: list[Any]) -> list[Any]:
                for segment in listed:
                    merge_into(merging, [segment])
                    if progress:
                        progress("advance", 1)
                return []

            with writing_to(self.path):
                writer.commit(mergetype=merge_each)
        except BaseException:
            if not writer.is_closed:
                writer.cancel()
            raise
        if progress:
            progress("advance", 1)
        return len(segments), len(self.segment_readers()), dropped

    # -- index settings that need no rebuild (synonyms)

    def setting(self, key: str) -> Any:
        """The value searchkit.json records for ``key`` besides the analyzer (None when it records none),
        read again when another process changed it."""
        if self.path is not None:
            try:
                stat = (self.path / META_FILE).stat()
            except OSError:
                return self._extras.get(key)
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if signature != self._extras_signature:
                self._extras = meta_extras(self.path)
                self._extras_signature = signature
        return self._extras.get(key)

    def change_settings(self, settings: AnalyzerSettings, extras: dict[str, Any], lock_timeout: float) -> None:
        """Record other analyzer settings (a user dictionary) and index settings (None removes one), under the
        write lock; the segments are the caller's to bring in line."""
        if self.path is not None:
            with write_lock(self.path, lock_timeout), writing_to(self.path):
                write_meta(self.path, settings, extras, schema_version=self.schema_version)
        else:
            for key, value in extras.items():
                if value is None:
                    self._extras.pop(key, None)
                else:
                    self._extras[key] = value
        self.settings = settings

    def set_setting(self, key: str, value: Any, lock_timeout: float) -> None:
        """Record ``value`` for ``key`` (None removes it), under the write lock; no segment changes."""
        self.change_settings(self.settings, {key: value}, lock_timeout)

    # -- reading

    def searcher(self) -> Any:
        """A Whoosh searcher for this thread, refreshed when the index changed."""
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None and not searcher.up_to_date():
            # Not searcher.refresh(): Whoosh-Reloaded 2.7.5 keeps the readers
            # of segments merged away since, so every merged document would
            # be found twice.
            searcher.close()
            searcher = None
        if searcher is None:
            searcher = self._open_searcher()
        self._local.searcher = searcher
        return searcher

    def _open_searcher(self) -> Any:
        for _attempt in range(20):
            try:
                return self._ix.searcher()
            except FileNotFoundError:
                # Another process's commit replaced the table of contents, or merged away a
                # segment, between reading the one and opening the other: read the new state.
                time.sleep(0.05)
        return self._ix.searcher()

    def reader(self) -> Any:
        """A reader of the whole index (the caller closes it)."""
        return self._ix.reader()

    def segment_readers(self) -> list[Any]:
        """This thread's searcher's segment readers.

        From the searcher, not the table of contents on disk: a concurrent
        commit may replace that between listing and reading.
        """
        # (An index without segments has one EmptyReader, which holds nothing.)
        return [r for r, _ in self.searcher().reader().leaf_readers() if not isinstance(r, EmptyReader)]

    def listed_segments(self) -> list[Any]:
        """The segments the table of contents lists (``check``: raises what reading it raises)."""
        return list(self._ix._segments())

    def segment_reader(self, segment: Any) -> Any:
        return SegmentReader(self._ix.storage, self._ix.schema, segment)

    def suffix_array_counts(self) -> tuple[int, int]:
        """(segments with suffix arrays, segments holding paragraphs without them)."""
        arrays = {reader: has_suffix_file(reader) for reader in self.segment_readers()}
        lacking = sum(1 for reader, has in arrays.items() if not has and reader.doc_frequency("kind", "paragraph"))
        return sum(arrays.values()), lacking

    def segments_without_titles(self) -> int:
        """Segments with suffix arrays but no title table (written before them; ``optimize`` adds them)."""
        return sum(1 for reader in self.segment_readers() if _lacks_titles(reader))

    def segments_without_metadata(self) -> int:
        """Segments holding paragraphs written before metadata filters (their paragraphs carry no metadata)."""
        searcher = self.searcher()
        # Asked before every filtered search: counted once per searcher (one state of the index).
        lacking = searcher.__dict__.get("_searchkit_without_metadata")
        if lacking is None:
            lacking = searcher._searchkit_without_metadata = sum(
                1 for reader, _ in searcher.reader().leaf_readers()
                if not isinstance(reader, EmptyReader) and not reader.has_column("f_date")
                and reader.doc_frequency("kind", "paragraph"))
        return lacking  # type: ignore[no-any-return]

    def size_bytes(self) -> int:
        return sum(_file_size(p) for p in self.path.iterdir()) if self.path is not None else 0

    def close(self) -> None:
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None:
            searcher.close()
            self._local.searcher = None


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except FileNotFoundError:  # removed by a concurrent commit
        return 0


@contextlib.contextmanager
def write_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold the index's write lock (the one every writer takes) without a writer: ``reindex``."""
    lock = FileStorage(str(path)).lock(LOCK_NAME)
    with writing_to(path):
        acquired = try_for(lock.acquire, timeout=timeout, delay=0.05)
    if not acquired:
        raise locked_error(path, timeout)
    try:
        yield
    finally:
        lock.release()


def _lacks_titles(reader: Any) -> bool:
    """Whether a segment of paragraphs (with suffix arrays) was written before title tables."""
    return has_suffix_file(reader) and not has_title_file(reader)

"""An index directory: its ``searchkit.json``, schema versions, and the checks made before Whoosh opens it.

Every command that opens, checks or rebuilds an index goes through these
checks, so a directory that is missing, foreign, or of another version or
analyzer gets the same one-line message everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..analysis import GRAM_SIZES, SEGMENTERS, AnalyzerSettings
from ..errors import CorruptIndexError, IndexLockedError, IndexNotFoundError, IndexVersionError, IndexWriteError

__all__ = [
    "META_FILE", "META_FORMAT", "READABLE_SCHEMA_VERSIONS", "SCHEMA_VERSION", "check_meta", "check_reindexable",
    "damaged_message", "existing_directory", "locked_error", "meta_extras", "meta_problem", "missing_index_error", "no_toc_message",
    "recorded_settings", "refuse_other_files", "refused_write", "settings_mismatch", "write_meta", "writing_to",
]

SCHEMA_VERSION = 4
# Versions this searchkit reads. 1: words fields hold posting values
# (positions, counts) that nothing reads; its segments read as version 2's.
# 2: paragraphs' characters have postings besides the suffix arrays; 3's
# segments have the arrays only (see searchkit.engine.chars.char_rows).
# 4: paragraphs carry their article's metadata (schema.FILTER_FIELDS), and the
# table of contents names the engine's classes (an older searchkit cannot
# unpickle it). An index is marked with this version before this searchkit
# first writes to it, so an older searchkit refuses it in one line; segments
# written before 4 have no metadata (Store.segments_without_metadata).
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4)
META_FILE = "searchkit.json"
META_FORMAT = "searchkit-index"


def damaged_message(path: Any, exc: BaseException) -> str:
    return (
        f"index at {path} is damaged ({type(exc).__name__}): rebuild it with `searchkit --index {path} reindex` "
        "(if that fails, delete it and index your files again)"
    )


def no_toc_message(path: Any, exc: BaseException) -> str:
    return (
        f"index at {path} is damaged (no readable table of contents: {type(exc).__name__}): "
        "delete it and index your files again"
    )


def missing_index_error(path: Any) -> IndexNotFoundError:
    return IndexNotFoundError(f"no index at {path}: build one with `searchkit --index {path} index PATH`")


def locked_error(path: Any, timeout: float) -> IndexLockedError:
    return IndexLockedError(
        f"index at {path} is locked by another writer; gave up after {timeout:g} s (raise --lock-timeout or try again)"
    )


def refused_write(path: Any, exc: OSError) -> IndexWriteError:
    """The one line for a write to the index at ``path`` that the operating system refused."""
    what = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make it writable, or choose another folder with --index"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space and run the command again (the batch being written was dropped)"
    elif exc.errno in (errno.EMFILE, errno.ENFILE):
        advice = f"raise the limit (ulimit -n), or merge segments with `searchkit --index {path} optimize`"
    else:
        advice = "what was committed before stays; run the command again"
    return IndexWriteError(f"cannot write to the index at {path}: {what}{where}: {advice}")


@contextlib.contextmanager
def writing_to(path: Any) -> Iterator[None]:
    """Turn what the operating system refuses while the index at ``path`` is written into :class:`IndexWriteError`."""
    try:
        yield
    except IndexWriteError:
        raise
    except OSError as exc:
        if path is None:
            raise
        raise refused_write(path, exc) from exc


def _foreign(path: Path) -> CorruptIndexError:
    return CorruptIndexError(f"{path} is not a searchkit index: choose an empty or new directory")


def existing_directory(path: Path) -> None:
    """Refuse a path that is not a directory: a file, or nothing (no index there)."""
    if not path.is_dir():
        if path.exists():
            raise CorruptIndexError(f"{path} is not a directory, so it cannot hold an index")
        raise missing_index_error(path)


def refuse_other_files(path: Path) -> None:
    """For a directory without searchkit.json: refuse one that holds other files."""
    if any(not p.name.startswith(".") for p in path.iterdir()):
        raise CorruptIndexError(
            f"{path} is not a searchkit index (it holds other files): choose an empty or new directory"
        )


def recorded_settings(path: Path) -> AnalyzerSettings | None:
    """The analyzer settings the index at ``path`` records, if it records usable ones."""
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        settings = AnalyzerSettings(**meta["analyzer"])
    except (OSError, ValueError, TypeError, KeyError):
        return None  # opening reports what is wrong
    return settings if settings.segmenter in SEGMENTERS and settings.grams in GRAM_SIZES else None


# searchkit.json's own keys; any other (``synonyms``, say) is an index setting
# that no rebuild changes: kept when the file is written again, and by reindex.
_META_KEYS = ("format", "schema_version", "analyzer")


def meta_extras(path: Path) -> dict[str, Any]:
    """The index settings searchkit.json records besides its schema and analyzer ({} when none, or unreadable)."""
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: value for key, value in meta.items() if key not in _META_KEYS} if isinstance(meta, dict) else {}


def write_meta(path: Path, settings: AnalyzerSettings, extras: dict[str, Any] | None = None,
               schema_version: int = SCHEMA_VERSION) -> None:
    """Write searchkit.json for ``settings``, keeping the settings it records besides
    (:func:`meta_extras`), updated with ``extras`` (a value of None removes its key)."""
    kept = meta_extras(path)
    kept.update(extras or {})
    meta = {"format": META_FORMAT, "schema_version": schema_version, "analyzer": settings.to_dict(),
            **{key: value for key, value in kept.items() if value is not None}}
    tmp = (path / META_FILE).with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path / META_FILE)


def check_meta(path: Path, settings: AnalyzerSettings) -> int:
    """Refuse a searchkit.json that is unreadable, foreign, or of another schema or analyzer; its schema version."""
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(
            f"index at {path} has an unreadable {META_FILE}: rebuild it with `searchkit --index {path} reindex`"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise _foreign(path)
    version = meta.get("schema_version")
    if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
        *earlier, last = map(str, READABLE_SCHEMA_VERSIONS)
        readable = f"{', '.join(earlier)} or {last}" if earlier else last
        raise IndexVersionError(
            f"index at {path} has schema version {version}, this searchkit reads {readable}: "
            f"rebuild it with `searchkit --index {path} reindex`"
        )
    problem = settings_mismatch(path, meta.get("analyzer"), settings)
    if problem:
        raise IndexVersionError(problem)
    return version


def settings_mismatch(path: Path | str, recorded: Any, settings: AnalyzerSettings) -> str | None:
    """Why an index whose searchkit.json records the analyzer ``recorded`` (its dict) cannot be
    opened with ``settings``, and what to do instead; None where it can."""
    wanted = settings.to_dict()
    if recorded == wanted:
        return None
    if isinstance(recorded, dict):
        if recorded.get("grams") != settings.grams and recorded == {**wanted, "grams": recorded.get("grams")}:
            return (f"index at {path} was built with grams={recorded.get('grams')}: "
                    f"rebuild it with `searchkit --index {path} reindex --grams {settings.grams}` to change that")
        if bool(recorded.get("pinyin")) != settings.pinyin and _but(recorded, "pinyin") == _but(wanted, "pinyin"):
            return (f"index at {path} was built {'with' if recorded.get('pinyin') else 'without'} pinyin: "
                    + (f"add it with `searchkit --index {path} reindex --pinyin`" if settings.pinyin else
                       "open it with the settings it records"))
        if recorded.get("dictionary", "") != settings.dictionary and _but(recorded, "dictionary") == _but(wanted, "dictionary"):
            return (f"index at {path} was segmented with another user dictionary: open it with the settings it records, "
                    f"or change its dictionary with `searchkit --index {path} dictionary FILE`")
    return (f"index at {path} was built with other analyzer settings ({recorded}): "
            f"open it with those settings or rebuild it with `searchkit --index {path} reindex`")


def _but(analyzer: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in analyzer.items() if name != key}


def meta_problem(path: Path, settings: AnalyzerSettings) -> str | None:
    """What ``check`` reports of searchkit.json, or None. A missing index or a foreign directory raises."""
    if not (path / META_FILE).exists():
        refuse_other_files(path)
        raise missing_index_error(path)
    try:
        check_meta(path, settings)
    except IndexVersionError as exc:
        return str(exc)
    except CorruptIndexError as exc:
        if "is not a searchkit index" in str(exc):
            raise
        return str(exc)
    return None


def check_reindexable(path: Path, settings: AnalyzerSettings) -> None:
    """Refuse what ``reindex`` must not touch: no index, or a foreign directory.

    Another schema version or analyzer, or an unreadable searchkit.json, is
    what reindex is for: then Whoosh's files decide.
    """
    existing_directory(path)
    if not (path / META_FILE).exists():
        meta_problem(path, settings)  # raises: foreign or empty directory
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise _foreign(path)

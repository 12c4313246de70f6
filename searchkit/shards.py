"""A sharded index: N ordinary searchkit indexes (its shards), each article in
the shard a stable hash of its id picks, so a replaced article lands where it was.

``DIR/shards.json`` is the shard map: its format, the number of shards, their
placement, the analyzer settings they share, and where each shard is. With
shared storage (``placement: shared``) the shards are ``DIR/shard-000`` and
on, which every Dask worker sees at the same path; with the workers' own disks
(``placement: workers``), the map names the worker that holds each shard (and
serves its searches) and its path there, and the scheduler they belong to.

A shard is reached through a :class:`Shard` handle: ``submit(function, *args)``
runs ``function(index, *args)`` where the shard's :class:`SearchIndex` is
open (in this process, or on the worker holding it) and returns a future.
Searches fan out through :mod:`searchkit.fanout`, with global statistics;
writes go to the shards in batches, through :class:`ShardedWriter` and the
Dask tasks of :mod:`searchkit.distributed`. This module does not import
:mod:`searchkit.index`: the class of a shard's index is handed in.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import os
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from . import distributed, fanout, maintenance, readers
from .analysis import AnalyzerSettings
from .documents import Article, ArticleInfo, id_forms
from .errors import (
    ArticleNotFoundError,
    CorruptIndexError,
    IndexNotFoundError,
    IndexVersionError,
    SearchkitError,
    ShardUnavailableError,
)
from .ingest import FileRun, IndexReport, ProgressCallback, add_records, index_files
from .maintenance import CheckReport, ReindexReport
from .query import QueryPlan, SearchResult
from .writing import BATCH_CHARS, DEFAULT_BATCH_SIZE, article_id_for, pending_article

__all__ = ["MAP_FORMAT", "PLACEMENTS", "SHARD_MAP_FILE", "LocalShard", "Shard", "ShardMap", "ShardedIndex",
           "ShardedWriter", "is_sharded", "shard_of"]

SHARD_MAP_FILE = "shards.json"
MAP_FORMAT = 1
PLACEMENTS = ("shared", "workers")

T = TypeVar("T")


def shard_of(article_id: str, count: int) -> int:
    """The shard (0 to ``count`` - 1) that holds ``article_id``: the same on every machine and run."""
    digest = hashlib.blake2b(article_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def is_sharded(path: str | Path) -> bool:
    """Whether ``path`` holds a sharded index (its shard map)."""
    return (Path(path) / SHARD_MAP_FILE).is_file()


class Shard(Protocol):
    """A handle on one shard: ``submit(f, *args)`` runs ``f(index, *args)`` where the shard is open.

    ``result()`` of the returned future raises :class:`ShardUnavailableError`
    (naming the shard) when the shard cannot be reached or opened; any other
    error is the function's own, raised as it was.
    """

    number: int
    name: str

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]: ...


class LocalShard:
    """A shard on storage this process reads, opened here (once) by ``opener(path)``."""

    def __init__(self, number: int, path: Path, opener: Callable[[Path], Any]) -> None:
        self.number = number
        self.name = f"shard {number} ({path})"
        self.path = path
        self._opener = opener
        self._index: Any = None

    def index(self) -> Any:
        if self._index is None:
            if not self.path.is_dir():
                raise ShardUnavailableError(f"{self.name}: its directory is missing")
            self._index = self._opener(self.path)
        return self._index

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(function(self.index(), *args))
        except BaseException as error:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(error)
        return future

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def _settings_of(index: Any) -> AnalyzerSettings:
    return index.settings  # type: ignore[no-any-return]


def _list_articles(index: Any) -> list[ArticleInfo]:
    return list(index.list_articles())


def _misplaced(index: Any, number: int, count: int) -> list[str]:
    """The ids of the articles in this shard that another shard should hold."""
    return [info.article_id for info in index.list_articles() if shard_of(info.article_id, count) != number]


# --------------------------------------------------------------------------
# The shard map


@dataclass
class ShardPlace:
    """Where one shard is: ``path`` (relative to the index directory on shared storage,
    absolute on its worker), and with worker-local shards the ``worker``'s name."""

    number: int
    path: str
    worker: Any = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"shard": self.number, "path": self.path}
        if self.worker is not None:
            data["worker"] = self.worker
        return data


@dataclass
class ShardMap:
    """``DIR/shards.json``: how many shards, where they are, and their analyzer settings."""

    count: int
    placement: str
    settings: AnalyzerSettings
    places: list[ShardPlace]
    index_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    scheduler: str | None = None  # the Dask scheduler of the workers holding the shards

    def to_json(self) -> dict[str, Any]:
        return {"format": MAP_FORMAT, "id": self.index_id, "shards": self.count, "placement": self.placement,
                "scheduler": self.scheduler, "analyzer": self.settings.to_dict(),
                "layout": [place.to_json() for place in self.places]}

    def save(self, directory: Path) -> None:
        """Written whole or not at all (a temporary file renamed over it)."""
        target = directory / SHARD_MAP_FILE
        tmp = directory / f".{SHARD_MAP_FILE}.tmp"
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, target)

    @classmethod
    def load(cls, directory: Path) -> ShardMap:
        path = directory / SHARD_MAP_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexNotFoundError(f"no sharded index at {directory} (no {SHARD_MAP_FILE})") from None
        except (OSError, ValueError) as error:
            raise CorruptIndexError(f"the shard map {path} cannot be read ({error})") from None
        if not isinstance(data, dict):
            raise CorruptIndexError(f"the shard map {path} is not a JSON object")
        if data.get("format") != MAP_FORMAT:
            raise IndexVersionError(f"the shard map {path} has format {data.get('format')!r}, "
                                    f"this searchkit reads {MAP_FORMAT}")
        try:
            places = [ShardPlace(int(item["shard"]), str(item["path"]), item.get("worker")) for item in data["layout"]]
            shard_map = cls(count=int(data["shards"]), placement=str(data["placement"]),
                            settings=AnalyzerSettings(**data["analyzer"]), places=places, index_id=str(data["id"]),
                            scheduler=data.get("scheduler"))
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptIndexError(f"the shard map {path} is incomplete ({type(error).__name__}: {error})") from None
        if (shard_map.count < 1 or [p.number for p in places] != list(range(shard_map.count))
                or shard_map.placement not in PLACEMENTS):
            raise CorruptIndexError(f"the shard map {path} does not list shards 0 to {shard_map.count - 1} "
                                    "with a placement of shared or workers")
        return shard_map


def recorded_settings(directory: str | os.PathLike[str]) -> AnalyzerSettings | None:
    """The analyzer settings a sharded index's map records, if it can be read."""
    try:
        return ShardMap.load(Path(directory)).settings
    except SearchkitError:
        return None


# --------------------------------------------------------------------------
# Writing: batches per shard, sent to the workers


@dataclass
class _Batch:
    operations: list[tuple[Any, ...]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    chars: int = 0


class BatchRunner(Protocol):
    """What runs a shard's batch (:class:`searchkit.distributed.BatchRunner` on Dask)."""

    def submit(self, shard: int, operations: list[tuple[Any, ...]]) -> Any: ...
    def wait(self, futures: Iterable[Any]) -> list[Any]: ...
    def result(self, future: Any) -> tuple[int, int]: ...
    def cancel(self, futures: Iterable[Any]) -> None: ...


class ShardedWriter:
    """The writer of a sharded index: each article goes to its shard's batch, and the batches to the runner.

    A shard's batch ends as an :class:`~searchkit.writing.IndexWriter`'s does
    (``batch_size`` articles or about :data:`BATCH_CHARS` characters) and is
    written in one commit. One batch per shard runs at a time, so a shard's
    batches apply in the order of the input (a later record with the same id
    wins); the shards' batches run side by side. At most ``max_batches``
    batches wait or run: reading waits for the workers (the input is never
    held whole). A file's old articles are dropped in every shard; the record
    that a file was indexed whole is written (in the shard its path hashes
    to) only once every batch holding its articles has committed, so a run
    stopped part way leaves no file recorded that is not all there.
    """

    def __init__(self, count: int, runner: BatchRunner, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_batches: int | None = None) -> None:
        self._shard_count = count
        self._runner = runner
        self._batch_size = batch_size
        self._max_batches = max_batches or 2 * count
        self._open = [_Batch() for _ in range(count)]
        self._ready: list[deque[list[tuple[Any, ...]]]] = [deque() for _ in range(count)]
        self._running: dict[Any, int] = {}  # future -> shard
        self._sealed = [0] * count  # batches made, per shard
        self._done = [0] * count  # batches committed, per shard (in order: one runs at a time)
        self._markers: list[tuple[str, str, list[int]]] = []  # (file, hash, batches each shard must have committed)
        self.articles_written = 0
        self.paragraphs_written = 0

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def add_article(self, article: Article, origin: str | None = None, recorded: list[list[str]] | None = None) -> str:
        """Add (or replace, by id) one article; its id. :class:`ReaderError` at once for text that is not valid Unicode."""
        pending = pending_article(article, origin, recorded)
        article_id = pending.article_id
        shard = shard_of(article_id, self._shard_count)
        batch = self._open[shard]
        if batch.ids and (len(batch.ids) >= self._batch_size or batch.chars >= BATCH_CHARS):
            self._seal(shard)
            batch = self._open[shard]
        written = pending.article if pending.article.id == article_id else replace(pending.article, id=article_id)
        batch.operations.append(("add", written, origin, recorded))
        batch.ids.add(article_id)
        batch.chars += pending.chars
        return article_id

    def delete_article(self, article_id: str) -> None:
        batch = self._open[shard_of(article_id, self._shard_count)]
        batch.operations.append(("delete", article_id))
        batch.ids.discard(article_id)

    def replace_source(self, source: str) -> None:
        """Drop every article that came from ``source``, in every shard (before re-adding it)."""
        for batch in self._open:
            batch.operations.append(("replace_source", source))

    def forget_source(self, source: str) -> None:
        for batch in self._open:
            batch.operations.append(("forget_source", source))

    def finish_source(self, source: str, content_hash: str) -> None:
        """Record that all of ``source`` is in, once every batch holding part of it has committed."""
        required = [self._sealed[n] + (1 if self._open[n].operations else 0) for n in range(self._shard_count)]
        self._markers.append((source, content_hash, required))
        self._release_markers()

    def close(self) -> None:
        """Send every batch and wait for all to commit (the files' records last)."""
        while True:
            for shard in range(self._shard_count):
                self._seal(shard, wait=False)
            if self._running or any(self._ready):
                self._wait()
                continue
            self._release_markers()
            if not any(batch.operations for batch in self._open):
                break

    def cancel(self) -> None:
        """Drop what was not sent; batches already running may still commit (each whole or not at all)."""
        self._runner.cancel(list(self._running))
        self._running.clear()
        for queue in self._ready:
            queue.clear()
        self._open = [_Batch() for _ in range(self._shard_count)]
        self._markers.clear()

    def _seal(self, shard: int, wait: bool = True) -> None:
        batch = self._open[shard]
        if not batch.operations:
            return
        self._ready[shard].append(batch.operations)
        self._sealed[shard] += 1
        self._open[shard] = _Batch()
        self._dispatch()
        while wait and len(self._running) + sum(len(queue) for queue in self._ready) > self._max_batches:
            self._wait()

    def _dispatch(self) -> None:
        busy = set(self._running.values())
        for shard, queue in enumerate(self._ready):
            if queue and shard not in busy:
                self._running[self._runner.submit(shard, queue.popleft())] = shard

    def _wait(self) -> None:
        for future in self._runner.wait(list(self._running)):
            shard = self._running.pop(future)
            articles, paragraphs = self._runner.result(future)
            self._done[shard] += 1
            self.articles_written += articles
            self.paragraphs_written += paragraphs
        self._release_markers()
        self._dispatch()

    def _release_markers(self) -> None:
        waiting = []
        for source, content_hash, required in self._markers:
            if all(done >= need for done, need in zip(self._done, required)):
                self._open[shard_of(source, self._shard_count)].operations.append(("finish_source", source, content_hash))
            else:
                waiting.append((source, content_hash, required))
        self._markers = waiting


# --------------------------------------------------------------------------
# The sharded index


class ShardedIndex:
    """A sharded index: what :class:`~searchkit.SearchIndex` offers, over the shards in ``DIR/shards.json``.

    Open one with ``SearchIndex.open(DIR)`` (which passes ``index_class``, the
    class of one shard's index). Searches fan out with global statistics
    (:mod:`searchkit.fanout`); writes go through
    Dask (:mod:`searchkit.distributed`): a local cluster, or the scheduler at
    ``scheduler``. On shared storage every other call runs here, shard by
    shard; with worker-local shards, on each shard's worker.
    """

    def __init__(self, path: str | os.PathLike[str], shard_map: ShardMap, *, index_class: Any,
                 lock_timeout: float = 30.0, scheduler: Any = None) -> None:
        self.path = Path(path)
        self.map = shard_map
        self.settings = shard_map.settings
        self.lock_timeout = lock_timeout
        self._index_class = index_class
        self._scheduler = scheduler
        self._cluster: distributed.Cluster | None = None
        self._handles: list[Any] | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- opening and making

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, index_class: Any, lock_timeout: float = 30.0,
             scheduler: Any = None) -> ShardedIndex:
        return cls(path, ShardMap.load(Path(path)), index_class=index_class, lock_timeout=lock_timeout,
                   scheduler=scheduler)

    @classmethod
    def create(cls, path: str | os.PathLike[str], count: int, *, index_class: Any,
               settings: AnalyzerSettings | None = None, placement: str = "shared", scheduler: Any = None,
               lock_timeout: float = 30.0) -> ShardedIndex:
        """Make an index of ``count`` empty shards at ``path``: in ``path/shard-000`` and on
        (``placement="shared"``), or on the disks of the workers of the Dask cluster at
        ``scheduler``, spread over them in turn (``placement="workers"``)."""
        if count < 1:
            raise SearchkitError(f"a sharded index needs at least 1 shard, not {count}")
        if placement not in PLACEMENTS:
            raise SearchkitError(f"placement must be shared or workers, not {placement!r}")
        directory = Path(path)
        settings = settings or AnalyzerSettings()
        shard_map = ShardMap(count=count, placement=placement, settings=settings, places=[])
        creator = functools.partial(index_class.create, settings=settings, lock_timeout=lock_timeout)
        if placement == "shared":
            directory.mkdir(parents=True, exist_ok=True)
            for number in range(count):
                name = f"shard-{number:03d}"
                creator(directory / name).close()
                shard_map.places.append(ShardPlace(number, name))
            shard_map.save(directory)
            return cls(directory, shard_map, index_class=index_class, lock_timeout=lock_timeout,
                       scheduler=scheduler)
        if scheduler is None:
            raise SearchkitError("shards on the workers' own disks need a Dask cluster that outlives this command: "
                                 "give its scheduler with --scheduler ADDRESS")
        cluster = distributed.Cluster(scheduler)
        try:
            cluster.wait_for_workers()
            names = cluster.worker_names()
            for number in range(count):
                worker = names[number % len(names)]
                home = cluster.run_on(worker, distributed.shard_home, shard_map.index_id, number)
                cluster.run_on(worker, distributed.create_shard, creator, home)
                shard_map.places.append(ShardPlace(number, home, worker))
            shard_map.scheduler = cluster.address if isinstance(scheduler, str) else _address_of(scheduler)
            directory.mkdir(parents=True, exist_ok=True)
            shard_map.save(directory)
        except BaseException:
            cluster.close()
            raise
        index = cls(directory, shard_map, index_class=index_class, lock_timeout=lock_timeout,
                    scheduler=scheduler)
        index._cluster = cluster
        return index

    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        return is_sharded(path)

    @property
    def count(self) -> int:
        return self.map.count

    @property
    def placement(self) -> str:
        return self.map.placement

    def close(self) -> None:
        for handle in self._handles or ():
            handle.close()
        self._handles = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> ShardedIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the shards

    def _opener(self) -> Callable[[str], Any]:
        return functools.partial(self._index_class, lock_timeout=self.lock_timeout)

    def _shard_path(self, number: int) -> str:
        place = self.map.places[number]
        return str((self.path / place.path).resolve()) if self.map.placement == "shared" else place.path

    def cluster(self, workers: int | None = None) -> distributed.Cluster:
        """The Dask cluster: the one given, the one the map records, or (shared storage) a local one."""
        if self._cluster is None:
            scheduler = self._scheduler if self._scheduler is not None else self.map.scheduler
            self._cluster = distributed.Cluster(scheduler, workers=workers)
        return self._cluster

    def shards(self) -> list[Shard]:
        """A handle on each shard, in order (see :class:`Shard`)."""
        if self._handles is None:
            if self.map.placement == "shared":
                self._handles = [LocalShard(n, Path(self._shard_path(n)), self._opener()) for n in range(self.count)]
            else:
                cluster = self.cluster()
                self._pool = ThreadPoolExecutor(max_workers=self.count, thread_name_prefix="searchkit-shard")
                self._handles = [distributed.ActorShard(n, cluster, place.worker, place.path, self._opener(), self._pool)
                                 for n, place in enumerate(self.map.places)]
        return self._handles

    def _each(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Every shard's ``method(*args, **kwargs)``, asked of all at once."""
        futures = [shard.submit(fanout.call_method, method, args, kwargs) for shard in self.shards()]
        return [future.result() for future in futures]

    def _one(self, number: int, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.shards()[number].submit(fanout.call_method, method, args, kwargs).result()

    def _on_disk(self, function: Callable[..., T], *args: Any) -> list[T | ShardUnavailableError]:
        """``function(shard path, *args)`` for every shard where its files are (here, or on its worker),
        without opening it first; a shard out of reach gives its :class:`ShardUnavailableError`."""
        if self.map.placement == "shared":
            return [function(self._shard_path(n), *args) for n in range(self.count)]
        self.close()  # the actors hold the shards open
        cluster = self.cluster()
        results: list[T | ShardUnavailableError] = []
        for place in self.map.places:
            try:
                results.append(cluster.run_on(place.worker, function, place.path, *args))
            except ShardUnavailableError as error:
                results.append(ShardUnavailableError(f"shard {place.number}: {error}"))
        return results

    # -- writing

    def _writer(self, batch_size: int, workers: int | None) -> ShardedWriter:
        targets = [(self._shard_path(n), self.map.places[n].worker) for n in range(self.count)]
        runner = distributed.BatchRunner(lambda: self.cluster(workers), self._opener(), targets)
        return ShardedWriter(self.count, runner, batch_size=batch_size)

    def add_article(self, article: Article) -> str:
        """Add one article and commit; returns its id."""
        self.add_articles([article])
        return article_id_for(article)

    def add_articles(self, articles: Iterable[Article | Mapping[str, Any]], *, batch_size: int = DEFAULT_BATCH_SIZE,
                     workers: int | None = None) -> IndexReport:
        """As :meth:`SearchIndex.add_articles`, each article written to its shard by a Dask worker
        (``workers``: the processes of a local cluster, default one per core)."""
        try:
            return add_records(self._writer(batch_size, workers), articles)
        finally:
            self._release_local_cluster()

    def add_files(self, paths: Sequence[str | os.PathLike[str]], *, fmt: str = "auto", include: Sequence[str] = (),
                  exclude: Sequence[str] = (), stdin: Any = None, batch_size: int = DEFAULT_BATCH_SIZE,
                  workers: int | None = None, progress: ProgressCallback | None = None,
                  prune: bool = False) -> IndexReport:
        """As :meth:`SearchIndex.add_files`: read here, each article written to its shard by a Dask
        worker (``workers``: the processes of a local cluster, default one per core)."""
        known: dict[str, str] = {}
        for hashes in self._each("source_hashes"):
            known.update(hashes)
        run = FileRun(known, lambda: frozenset().union(*self._each("files_with_articles")),
                      lambda source: [found for part in self._each("source_articles", source) for found in part])
        try:
            return index_files(self._writer(batch_size, workers), run, paths, fmt=fmt, include=include,
                               exclude=exclude, stdin=stdin, progress=progress, prune=prune)
        finally:
            self._release_local_cluster()

    def _release_local_cluster(self) -> None:
        """A local cluster exists for one write: its worker processes end with it."""
        if self._cluster is not None and self._scheduler is None and self.map.scheduler is None:
            self._cluster.close()
            self._cluster = None

    def delete(self, article_id: str) -> None:
        """Delete one article (and its paragraphs)."""
        for candidate in id_forms(article_id):
            try:
                self._one(shard_of(candidate, self.count), "delete", candidate)
                return
            except ArticleNotFoundError:
                continue
        raise ArticleNotFoundError(f"no article with id {article_id!r}")

    def remove(self, target: str) -> int:
        """Delete the articles of a file (or of every file under a folder), or one article by id, in every shard."""
        counts = []
        for future in [shard.submit(fanout.call_method, "remove", (target,), {}) for shard in self.shards()]:
            try:
                counts.append(future.result())
            except ArticleNotFoundError:
                continue
        if not counts:
            raise ArticleNotFoundError(f"no article or indexed file {target!r}")
        return sum(counts)

    # -- reading

    def get_article(self, article_id: str) -> ArticleInfo:
        for candidate in id_forms(article_id):
            try:
                return self._one(shard_of(candidate, self.count), "get_article", candidate)  # type: ignore[no-any-return]
            except ArticleNotFoundError:
                continue
        raise ArticleNotFoundError(f"no article with id {article_id!r}")

    def highlights(self, article: ArticleInfo, query: str) -> dict[str, Any]:
        return self._index_class.highlights(article, query)  # type: ignore[no-any-return]

    def list_articles(self) -> Iterator[ArticleInfo]:
        """Every article, by id (as one index lists them)."""
        futures = [shard.submit(_list_articles) for shard in self.shards()]
        return heapq.merge(*(future.result() for future in futures), key=lambda info: info.article_id)

    def stats(self) -> Any:
        """The shards' :class:`IndexStats` added up, with the number of shards and their placement."""
        parts = self._each("stats")
        total = _summed(parts, ("articles", "paragraphs", "sources", "segments", "size_bytes", "suffix_segments",
                                "segments_without_arrays", "segments_without_titles"))
        return replace(parts[0], path=str(self.path), shards=self.count, placement=self.map.placement, **total)

    def search(self, query: str, *, allow_partial: bool = False, **options: Any) -> SearchResult:
        """:meth:`SearchIndex.search` over every shard, with global statistics (one index's answer).

        A shard that cannot be reached raises :class:`ShardUnavailableError`; with
        ``allow_partial`` the others answer and the result's ``partial_shards`` names it.
        """
        return fanout.search_shards(self.shards(), query, allow_partial=allow_partial, **options)

    def explain(self, query: str, *, synonyms: bool = True) -> QueryPlan:
        return fanout.explain_shards(self.shards(), query, synonyms=synonyms)

    def analyze(self, text: str) -> Any:
        """How the shards' analyzer (the same in each) cuts ``text``."""
        return self._one(0, "analyze", text)

    # -- synonyms and the user dictionary: set in every shard

    def synonyms(self) -> list[str]:
        return self._one(0, "synonyms")  # type: ignore[no-any-return]

    def set_synonyms(self, rules: Iterable[str], *, where: str = "synonyms") -> Any:
        return self._each("set_synonyms", list(rules), where=where)[0]

    def load_synonyms(self, path: str | os.PathLike[str]) -> Any:
        return self.set_synonyms(readers.read_lines(path), where=os.fspath(path))

    def clear_synonyms(self) -> int:
        return self._each("clear_synonyms")[0]  # type: ignore[no-any-return]

    def dictionary(self) -> list[str]:
        return self._one(0, "dictionary")  # type: ignore[no-any-return]

    def set_dictionary(self, lines: Iterable[str], *, where: str = "dictionary") -> Any:
        """Set the user dictionary of every shard (each re-analyses its own paragraphs); the reports added up."""
        reports = self._each("set_dictionary", list(lines), where=where)
        self._record_settings()
        return replace(reports[0], **_summed(reports, ("paragraphs", "titles", "articles")))

    def load_dictionary(self, path: str | os.PathLike[str]) -> Any:
        return self.set_dictionary(readers.read_lines(path), where=os.fspath(path))

    def clear_dictionary(self) -> Any:
        return self.set_dictionary([])

    def _record_settings(self) -> None:
        """The map records the shards' analyzer settings (shard 0's: they are the same)."""
        settings = self.shards()[0].submit(_settings_of).result()
        if settings != self.map.settings:
            self.map.settings = self.settings = settings
            self.map.save(self.path)

    # -- maintenance

    def optimize(self, progress: ProgressCallback | None = None) -> Any:
        """Merge each shard into one segment."""
        reports = self._each("optimize")
        return replace(reports[0], **_summed(reports, ("segments_before", "segments_after", "dropped")))

    def check(self, postings: bool = True) -> CheckReport:
        """Check every shard, and that each holds only the articles its ids hash to."""
        found = self._on_disk(functools.partial(self._index_class.check_path, postings=postings, files=False))
        checked = [part for part in found if not isinstance(part, ShardUnavailableError)]
        report = CheckReport(path=str(self.path), **_summed(checked, ("segments", "documents", "articles", "paragraphs",
                                                                      "sources", "terms")))
        for number, part in enumerate(found):
            if isinstance(part, ShardUnavailableError):
                report.problems.append(str(part))
                continue
            report.problems.extend(part.problems)
            report.notes.extend(part.notes)
            if part.ok:
                try:
                    self._check_shard(number, report)
                except ShardUnavailableError as error:
                    report.problems.append(str(error))
        # The records of indexed files (each in the shard its path hashes to) against the articles in all shards.
        markers: Counter[str] = Counter()
        with_articles: Counter[str] = Counter()
        for number, counted in enumerate(self._on_disk(maintenance.file_counts)):
            if isinstance(counted, ShardUnavailableError):
                continue  # a problem already
            markers.update(counted[0])
            with_articles.update(counted[1])
            for source in counted[0]:
                if shard_of(source, self.count) != number:
                    report.problems.append(f"shard {number} records file {source} as indexed, which belongs in "
                                           f"shard {shard_of(source, self.count)}")
        problems, notes = maintenance.file_findings(markers, with_articles)
        report.problems.extend(message for _kind, message in problems[:maintenance.MAX_LISTED])
        if len(problems) > maintenance.MAX_LISTED:
            report.problems.append(f"... and {len(problems) - maintenance.MAX_LISTED} more source problems")
        report.notes.extend(notes)
        return report

    def _check_shard(self, number: int, report: CheckReport) -> None:
        shard = self.shards()[number]
        settings = shard.submit(_settings_of).result()
        if settings != self.map.settings:
            report.problems.append(f"{shard.name} has analyzer settings {settings.to_dict()}, the shard map "
                                   f"{self.map.settings.to_dict()}: rebuild it with `searchkit --index {self.path} reindex`")
        misplaced = shard.submit(_misplaced, number, self.count).result()
        for article_id in misplaced[:maintenance.MAX_LISTED]:
            report.problems.append(f"{shard.name} holds article {article_id!r}, which belongs in shard "
                                   f"{shard_of(article_id, self.count)}")
        if len(misplaced) > maintenance.MAX_LISTED:
            report.problems.append(f"... and {len(misplaced) - maintenance.MAX_LISTED} more articles in the wrong shard")

    def reindex(self, *, settings: AnalyzerSettings | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                workers: int | None = None) -> ReindexReport:
        """Rebuild every shard from its own stored documents (:meth:`SearchIndex.reindex`), one after another."""
        if settings is None:
            settings = AnalyzerSettings(grams=self.map.settings.grams, pinyin=self.map.settings.pinyin)
        rebuild = functools.partial(self._index_class.reindex, settings=settings, lock_timeout=self.lock_timeout,
                                    batch_size=batch_size, workers=workers)
        self.close()
        parts = self._on_disk(rebuild)
        for part in parts:
            if isinstance(part, ShardUnavailableError):
                raise part
        self._record_settings()
        return ReindexReport(path=str(self.path), **_summed(parts, ("articles", "paragraphs", "sources", "dropped_paragraphs")))

    def damage_message(self, error: BaseException) -> str | None:
        """After an unexpected ``error``: the first damaged shard's message (shards on shared storage)."""
        if self.map.placement != "shared" or self._handles is None:
            return None
        for handle in self._handles:
            if handle._index is not None:
                message = handle._index.damage_message(error)
                if message:
                    return message  # type: ignore[no-any-return]
        return None


def _summed(reports: Sequence[Any], names: Sequence[str]) -> dict[str, Any]:
    """The shards' reports' counts of ``names``, added up."""
    return {name: sum(getattr(report, name) for report in reports) for name in names}


def _address_of(client: Any) -> str | None:
    scheduler = getattr(client, "scheduler", None)
    return getattr(scheduler, "address", None)

"""A sharded index: N ordinary searchkit indexes (its shards), each article in
the shard a stable hash of its id picks, so a replaced article lands where it was.

``DIR/shards.json`` is the shard map. With shared storage the shards are
``DIR/shard-000`` and on, which every Dask worker sees; with workers' own
disks, the map names the worker that holds each shard and serves its searches.

A shard is reached through a :class:`Shard` handle: ``submit(function, *args)``
runs ``function(index, *args)`` where the shard's :class:`SearchIndex` is
open (in this process, or on the worker holding it) and returns a future.
Searches fan out through :mod:`searchkit.fanout`, with global statistics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .errors import ShardUnavailableError

__all__ = ["SHARD_MAP_FILE", "LocalShard", "Shard", "is_sharded", "shard_of"]

SHARD_MAP_FILE = "shards.json"

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

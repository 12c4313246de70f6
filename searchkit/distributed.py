"""Dask for sharded indexes: the cluster, batches written on workers, shards served by workers.

Everything here that touches Dask imports it when called, so searchkit
imports (and a sharded index on shared storage searches) without the
``distributed`` extra; what needs Dask without it raises
:class:`DistributedExtraError`, one line saying what to install.

- :class:`Cluster`: a client of a local cluster started here (one worker
  process per core, closed with it), of the scheduler at an address, or of
  a client given.
- :class:`BatchRunner`: a shard's batch of operations written by a task on a
  worker (any worker for shared storage, the shard's own for worker-local
  shards), under the shard's lock, in one commit.
- :class:`ActorShard`: the handle on a shard that lives on a worker's own
  disk: a Dask actor there keeps the shard open and runs each call on it.

Nothing here knows the shard map: :mod:`searchkit.shards` uses these.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import DistributedExtraError, SearchkitError, ShardUnavailableError

__all__ = ["EXTRA_MESSAGE", "ActorShard", "BatchRunner", "Cluster", "apply_batch", "require", "shard_home"]

T = TypeVar("T")

EXTRA_MESSAGE = "a sharded index needs Dask: pip install 'searchkit[distributed]'"
# How long a shard's worker may be missing from the cluster while a batch waits for it
# (a nanny restarts a killed worker in a second or two, under the same name).
WORKER_GONE_GRACE = 30.0
CONNECT_TIMEOUT = 20.0


def require() -> None:
    """:class:`DistributedExtraError` unless Dask's ``distributed`` can be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DistributedExtraError(EXTRA_MESSAGE) from None


class Cluster:
    """A Dask client: ``scheduler`` None starts a local cluster of ``workers`` processes
    (default: one per core) that closes with this; an address (``tcp://host:8786``)
    connects to that scheduler; a ``distributed.Client`` is used as it is."""

    def __init__(self, scheduler: Any = None, *, workers: int | None = None) -> None:
        require()
        from distributed import Client, LocalCluster

        _quiet()
        self._local: Any = None
        self._owned = True
        if scheduler is None:
            self.address = "a local cluster"
            self._local = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                       dashboard_address="127.0.0.1:0")
            self.client = Client(self._local)
        elif isinstance(scheduler, str):
            self.address = scheduler
            try:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as error:
                raise ShardUnavailableError(
                    f"cannot reach the Dask scheduler at {scheduler} ({_reason(error)}): start it, or give another "
                    "with --scheduler") from None
        else:
            self.address = getattr(scheduler, "scheduler", None) and scheduler.scheduler.address or "a Dask client"
            self.client = scheduler
            self._owned = False

    def worker_names(self) -> list[Any]:
        """The names of the workers in the cluster now, sorted (as text)."""
        return sorted((info.get("name") for info in self.client.scheduler_info()["workers"].values()), key=str)

    def wait_for_workers(self) -> None:
        """Wait until the cluster has a worker (a local cluster's start up, a remote one's first worker)."""
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise ShardUnavailableError(f"the Dask cluster at {self.address} has no worker") from None

    def run_on(self, worker: Any, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` as a task on ``worker`` (a name; None: any worker)."""
        placement = {} if worker is None else {"workers": [worker], "allow_other_workers": False}
        if worker is not None and worker not in self.worker_names():
            raise ShardUnavailableError(f"worker {worker!r} is not in the Dask cluster at {self.address}")
        future = self.client.submit(function, *args, pure=False, **placement)
        return future.result()  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._owned:
            self.client.close()
            if self._local is not None:
                self._local.close()


def _quiet() -> None:
    """Dask's own log lines (a worker restarted, a task retried) stay out of searchkit's output."""
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker", "distributed.core"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _reason(error: BaseException) -> str:
    return str(error).split("\n", 1)[0] or type(error).__name__


# --------------------------------------------------------------------------
# Writing batches


def apply_batch(opener: Callable[[str], Any], path: str, operations: list[tuple[Any, ...]]) -> tuple[int, int]:
    """On a worker: apply a shard's batch to the index at ``path`` in one commit; (articles, paragraphs) written.

    The operations are the writer's calls in order: ``("add", article, origin, recorded)``,
    ``("replace_source", source)``, ``("finish_source", source, hash)``, ``("forget_source",
    source)``, ``("delete", article_id)``. A batch applied twice (a worker lost after its
    commit) leaves the shard as once: an article replaces its id, a file's old articles go
    before its new ones come.
    """
    with opener(path) as index:
        writer = index.writer(batch_size=len(operations) + 1, workers=1)
        with writer:
            for operation in operations:
                kind, args = operation[0], operation[1:]
                if kind == "add":
                    writer.add_article(*args)
                elif kind == "delete":
                    writer.delete_article(*args)
                else:
                    getattr(writer, kind)(*args)
        return writer.articles_written, writer.paragraphs_written


def shard_home(index_id: str, number: int) -> str:
    """On a worker: where a worker-local shard lives, under the worker's ``--local-directory``."""
    from distributed import get_worker

    local = Path(get_worker().local_directory)
    base = local.parent.parent if local.parent.name == "dask-scratch-space" else local
    return str((base / "searchkit-shards" / index_id / f"shard-{number:03d}").resolve())


def create_shard(creator: Callable[[str], Any], path: str) -> str:
    """On a worker: make the shard's (empty) index at ``path``."""
    creator(path).close()
    return path


@dataclass
class _Ticket:
    """A batch sent: its shard and operations (kept to send it again), the task, and the worker's address."""

    shard: int
    operations: list[tuple[Any, ...]]
    future: Any = None
    address: str | None = None


class BatchRunner:
    """Runs each shard's batches as Dask tasks; ``targets[n]`` is shard n's (path, worker name or None).

    Without a worker, any worker runs a batch, and a batch whose worker died is
    run again on another (Dask's own retry). With one, its batches run on that
    worker only: restarted (a new address under the same name), the batch is
    sent again; gone longer than :data:`WORKER_GONE_GRACE`, the run stops with
    :class:`ShardUnavailableError`. Running a batch twice leaves the shard as
    once (see :func:`apply_batch`).
    """

    def __init__(self, connect: Callable[[], Cluster], opener: Callable[[str], Any],
                 targets: Sequence[tuple[str, Any]]) -> None:
        require()
        self._connect = connect
        self._cluster: Cluster | None = None
        self.opener = opener
        self.targets = list(targets)
        self._missing_since: dict[Any, float] = {}
        self._tickets: dict[int, _Ticket] = {}
        self._next = 0

    @property
    def cluster(self) -> Cluster:
        """The cluster, connected at the first batch (a run with nothing to write starts none)."""
        if self._cluster is None:
            self._cluster = self._connect()
            self._cluster.wait_for_workers()
        return self._cluster

    def submit(self, shard: int, operations: list[tuple[Any, ...]]) -> int:
        """Send a batch; a ticket for :meth:`wait` and :meth:`result`."""
        self._next += 1
        ticket = self._tickets[self._next] = _Ticket(shard, operations)
        self._send(ticket)
        return self._next

    def _send(self, ticket: _Ticket) -> None:
        path, worker = self.targets[ticket.shard]
        placement: dict[str, Any] = {}
        if worker is not None:
            ticket.address = self._addresses().get(worker)
            if ticket.address is None:
                return  # sent when the worker is back (see _check_workers)
            placement = {"workers": [ticket.address], "allow_other_workers": False}
        with warnings.catch_warnings():  # a batch of one huge article: Dask's "large graph" advice is for arrays
            warnings.simplefilter("ignore")
            ticket.future = self.cluster.client.submit(apply_batch, self.opener, path, ticket.operations, pure=False,
                                                       **placement)

    def _addresses(self) -> dict[Any, str]:
        """Worker name -> its address now."""
        return {info.get("name"): address for address, info in self.cluster.client.scheduler_info()["workers"].items()}

    def wait(self, tickets: Iterable[int], timeout: float = 2.0) -> list[int]:
        """Those of ``tickets`` whose batch finished, waiting up to ``timeout`` seconds for one."""
        from distributed import wait

        tickets = list(tickets)
        futures = {self._tickets[t].future: t for t in tickets if self._tickets[t].future is not None}
        done: set[Any] = set()
        if futures:
            try:
                done, _pending = wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
        else:
            time.sleep(timeout)
        if not done:
            self._check_workers(tickets)
        return [futures[future] for future in done]

    def result(self, ticket: int) -> tuple[int, int]:
        """The batch's (articles, paragraphs); its error if it failed, in one line."""
        from distributed import KilledWorker

        sent = self._tickets.pop(ticket)
        try:
            return sent.future.result()  # type: ignore[no-any-return]
        except SearchkitError:
            raise
        except KilledWorker:
            raise ShardUnavailableError(
                f"shard {sent.shard}: the workers writing one of its batches kept dying: run the same command again "
                "(what was committed stays)") from None
        except (OSError, TimeoutError) as error:
            raise ShardUnavailableError(f"shard {sent.shard}: the Dask cluster at {self.cluster.address} was lost "
                                        f"({_reason(error)}): run the same command again") from None

    def cancel(self, tickets: Iterable[int]) -> None:
        futures = [sent.future for sent in (self._tickets.pop(t, None) for t in tickets) if sent and sent.future]
        if futures:
            with contextlib.suppress(Exception):  # a cluster already gone has nothing to cancel
                self.cluster.client.cancel(futures)

    def _check_workers(self, tickets: list[int]) -> None:
        """Send again the batches of a worker restarted; stop when one has been gone too long."""
        pinned = [self._tickets[t] for t in tickets if self.targets[self._tickets[t].shard][1] is not None]
        if not pinned:
            return
        addresses = self._addresses()
        now = time.monotonic()
        for sent in pinned:
            worker = self.targets[sent.shard][1]
            address = addresses.get(worker)
            if address is None:
                since = self._missing_since.setdefault(worker, now)
                if now - since > WORKER_GONE_GRACE:
                    raise ShardUnavailableError(
                        f"shard {sent.shard}: its worker {worker!r} left the Dask cluster at {self.cluster.address} "
                        "during indexing: start it again and run the same command (what was committed stays)")
                continue
            self._missing_since.pop(worker, None)
            if address != sent.address:  # restarted: the task waits for an address that is gone
                if sent.future is not None:
                    with contextlib.suppress(Exception):
                        self.cluster.client.cancel([sent.future])
                self._send(sent)


# --------------------------------------------------------------------------
# Shards served by their workers


class ShardServer:
    """A Dask actor on the worker holding a shard: the shard's index, open, and calls run on it."""

    def __init__(self, opener: Callable[[str], Any], path: str) -> None:
        self._index = opener(path)

    def run(self, function: Callable[..., T], *args: Any) -> T:
        return function(self._index, *args)

    def close(self) -> None:
        self._index.close()


class ActorShard:
    """A :class:`~searchkit.shards.Shard` handle on a shard on ``worker``'s own disk at ``path``.

    The actor is made at the first call. A worker not in the cluster, one
    lost since, or a shard it cannot open make ``result()`` raise
    :class:`ShardUnavailableError` naming the shard; the function's own
    errors are raised as they were.
    """

    def __init__(self, number: int, cluster: Cluster, worker: Any, path: str, opener: Callable[[str], Any],
                 pool: ThreadPoolExecutor) -> None:
        self.number = number
        self.name = f"shard {number} (worker {worker}: {path})"
        self.worker = worker
        self.path = path
        self._cluster = cluster
        self._opener = opener
        self._pool = pool
        self._actor: Any = None
        self._future: Any = None
        self._lock = threading.Lock()

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(self._call, function, args)

    def _call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        actor = self._get_actor()
        try:
            return actor.run(function, *args).result()  # type: ignore[no-any-return]
        except SearchkitError:
            raise
        except (RuntimeError, OSError, TimeoutError) as error:
            if isinstance(error, RuntimeError) and "lost" not in str(error):
                raise
            raise ShardUnavailableError(f"{self.name}: its worker cannot be reached ({_reason(error)})") from None

    def _get_actor(self) -> Any:
        with self._lock:
            if self._actor is None:
                if self.worker not in self._cluster.worker_names():
                    raise ShardUnavailableError(f"{self.name}: the worker is not in the Dask cluster at "
                                                f"{self._cluster.address}")
                self._future = self._cluster.client.submit(ShardServer, self._opener, self.path, actor=True,
                                                           workers=[self.worker], allow_other_workers=False, pure=False)
                try:
                    self._actor = self._future.result()
                except SearchkitError as error:
                    raise ShardUnavailableError(f"{self.name}: {error}") from None
                except (RuntimeError, OSError, TimeoutError) as error:
                    raise ShardUnavailableError(f"{self.name}: its worker cannot be reached ({_reason(error)})") from None
            return self._actor

    def close(self) -> None:
        with self._lock:
            if self._actor is not None:
                with contextlib.suppress(Exception):  # a worker gone took the shard's index with it
                    self._actor.close().result()
            self._actor = self._future = None

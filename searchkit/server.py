"""``searchkit serve``: the HTTP JSON API and the search page, on Starlette and uvicorn.

The API speaks the CLI's JSON (``SearchResult.to_json``, ``ArticleInfo.to_json``)
and is described at ``/openapi.json``; the page at ``/`` is static HTML, CSS
and a small script (``searchkit/web``) that calls the same API.

Library calls block, so they run on threads of the server's own: searches
on ``search_threads`` threads, each with a searcher of its own (a new one
once another process or request committed), and writes on one thread,
committed under the index lock as ``searchkit index`` commits. A request
never sees a half-written batch: ``POST /articles`` checks every record
first and commits them all at once.

One process holds one GIL: with ``workers`` > 1 the server forks that many
worker processes after binding its socket, and they accept on it each with
its own searcher and write thread; a worker searches on its event loop's
thread, one search at a time (no hand-over to a thread and back). A
searcher checks the index's generation on every search (one directory
listing), so a commit made through any worker, or by ``searchkit index``,
is seen by the next search in every other. The parent only supervises:
SIGTERM or Ctrl-C stops every worker cleanly, and a worker that ends while
serving is replaced (see :class:`_Workers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import mmap
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from importlib import resources
from typing import Any, TypeVar

from .documents import Article
from .engine import fork_available
from .errors import EXIT_FAILED, EXIT_REFUSED, RecordError, SearchkitError
from .index import SearchIndex

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError:  # the [serve] extra is not installed: serve() says so
    Starlette = None

__all__ = ["DEFAULT_PORT", "MAX_BODY_BYTES", "MAX_PAGE", "ServiceSettings", "create_app", "default_workers",
           "require_extra", "serve"]

DEFAULT_PORT = 8750
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_PAGE = 1000  # largest limit= a request may ask for (the CLI allows more)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
SEARCH_THREADS = 4  # in a single server process (see ServiceSettings.search_threads)
T = TypeVar("T")


class ListenError(SearchkitError):
    """The server could not listen on the address it was given."""

    exit_code = EXIT_REFUSED


class WorkerError(SearchkitError):
    """A worker process of ``serve --workers`` could not start, or kept ending."""

    exit_code = EXIT_FAILED


class _HTTPError(SearchkitError):
    """A request the API refuses, with its status (and headers)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.headers = dict(headers or {})


@dataclass
class ServiceSettings:
    """What ``searchkit serve`` is told: who may write, which origins may call it, its limits."""

    api_key: str | None = None
    cors_origins: Sequence[str] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    # Threads that search, each with its own searcher; 0: searches run one at a time on the event
    # loop's thread. None: 4 in a single process, 0 in each of several worker processes (threads
    # of one process share its GIL: more made the tail worse, and handing each search to a thread
    # and its answer back cost a worker about a tenth of its searches per second).
    search_threads: int | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# Requests


SEARCH_FIELDS = {"q", "limit", "offset", "level", "sort", "facets", "from", "to", "source", "author", "tag"}
_REPEATABLE = {"source", "author", "tag", "facets"}


def _one(name: str, values: Sequence[Any]) -> Any:
    if len(values) > 1:
        raise _HTTPError(400, f"{name} is given {len(values)} times: give it once")
    return values[0]


def _integer(name: str, value: Any, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, float) or not low <= number <= high:
        raise _HTTPError(400, f"{name} must be a whole number from {low} to {high}, not {value}")
    return number


def _strings(name: str, value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise _HTTPError(400, f"{name} must be a string or a list of strings")
    return values


def search_arguments(fields: Mapping[str, list[Any]]) -> tuple[str, dict[str, Any]]:
    """The query and :meth:`SearchIndex.search`'s keyword arguments from a request's
    fields (a query string's, or a JSON body's with each value in a list)."""
    unknown = sorted(set(fields) - SEARCH_FIELDS)
    if unknown:
        raise _HTTPError(400, f"unknown field {unknown[0]!r}: use {', '.join(sorted(SEARCH_FIELDS))}")
    single = {name: _one(name, values) for name, values in fields.items() if name not in _REPEATABLE and values}
    query = single.get("q")
    if not isinstance(query, str) or not query.strip():
        raise _HTTPError(400, "q is required: the query to search for")
    for name in ("level", "sort", "from", "to"):
        if name in single and not isinstance(single[name], str):
            raise _HTTPError(400, f"{name} must be a string")
    listed = {name: [s for v in fields.get(name, []) for s in _strings(name, v)] for name in _REPEATABLE}
    return query, {
        "limit": _integer("limit", single.get("limit"), 10, 1, MAX_PAGE),
        "offset": _integer("offset", single.get("offset"), 0, 0, 10000),
        "level": single.get("level") or "article",
        "sort": single.get("sort") or "relevance",
        "facets": [name.strip() for value in listed["facets"] for name in value.split(",") if name.strip()],
        "date_from": single.get("from") or None,
        "date_to": single.get("to") or None,
        "source": listed["source"],
        "author": listed["author"],
        "tag": listed["tag"],
    }


def read_articles(body: bytes, content_type: str) -> list[Article]:
    """The articles of a ``POST /articles`` body, every one checked before any is written:
    a JSON array of objects, or JSON lines (``application/x-ndjson``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _HTTPError(400, f"the body is not UTF-8 (byte {error.start})") from None
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("application/x-ndjson", "application/jsonl", "application/jsonlines"):
        records: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as error:
                raise _HTTPError(400, f"line {number}: invalid JSON: {error.msg} (column {error.colno})") from None
    elif kind in ("application/json", ""):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise _HTTPError(400, f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None
        if not isinstance(data, list):
            raise _HTTPError(400, "the body must be a JSON array of articles (or JSON lines as application/x-ndjson)")
        records = [(f"record {number}", item) for number, item in enumerate(data, 1)]
    else:
        raise _HTTPError(415, f"unsupported content type {kind!r}: send application/json or application/x-ndjson")
    if not records:
        raise _HTTPError(400, "no articles in the body")
    try:
        return [Article.from_dict(item, where=where) for where, item in records]
    except RecordError as error:
        raise _HTTPError(400, str(error)) from None


# --------------------------------------------------------------------------
# The application


class _Service:
    """The index, its threads and the request handlers."""

    def __init__(self, index: SearchIndex, settings: ServiceSettings) -> None:
        self.index = index
        self.settings = settings
        threads = SEARCH_THREADS if settings.search_threads is None else max(0, settings.search_threads)
        self.searches = ThreadPoolExecutor(threads, thread_name_prefix="searchkit-search") if threads else None
        self.writes = ThreadPoolExecutor(1, thread_name_prefix="searchkit-write")

    async def _run(self, pool: ThreadPoolExecutor, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, partial(call, *args, **kwargs))

    async def _read(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A search (or another read) on a search thread; without any, here on the loop's thread."""
        if self.searches is None:
            return call(*args, **kwargs)
        return await self._run(self.searches, call, *args, **kwargs)

    def close(self) -> None:
        self.writes.shutdown(wait=True)  # a batch being written is committed first
        if self.searches is not None:
            self.searches.shutdown(wait=True)
        self.index.close()

    # -- helpers

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _HTTPError(413, f"the body is over {limit:,} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _HTTPError(413, f"the body is over {limit:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _authorize(self, request: Request) -> None:
        key = self.settings.api_key
        if not key:
            raise _HTTPError(403, "writes are disabled: start the server with --api-key KEY (or SEARCHKIT_API_KEY)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise _HTTPError(401, "this needs the API key: send Authorization: Bearer KEY",
                             {"WWW-Authenticate": 'Bearer realm="searchkit"'})
        if not hmac.compare_digest(given.strip().encode(), key.encode()):
            raise _HTTPError(403, "wrong API key")

    # -- endpoints

    async def search(self, request: Request) -> Response:
        if request.method == "POST":
            body = await self._body(request)
            try:
                data = json.loads(body or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise _HTTPError(400, f"invalid JSON body: {error}") from None
            if not isinstance(data, dict):
                raise _HTTPError(400, "the body must be a JSON object of search fields (q, limit, ...)")
            fields = {name: (value if isinstance(value, list) and name in _REPEATABLE else [value])
                      for name, value in data.items() if value is not None}
        else:
            fields = {name: request.query_params.getlist(name) for name in request.query_params}
        query, arguments = search_arguments(fields)
        result = await self._read(self.index.search, query, **arguments)
        return _json(result.to_json())

    async def article(self, request: Request) -> Response:
        article_id = request.path_params["article_id"]
        if request.method == "DELETE":
            self._authorize(request)
            await self._run(self.writes, self.index.delete, article_id)
            return _json({"deleted": article_id})
        query = request.query_params.get("q", "").strip()
        article = await self._read(self.index.get_article, article_id)
        data = article.to_json(with_text=True)
        if query:
            data["highlights"] = self.index.highlights(article, query)
        return _json(data)

    async def articles(self, request: Request) -> Response:
        if request.method == "POST":
            self._authorize(request)
            body = await self._body(request)
            batch = read_articles(body, request.headers.get("content-type", ""))
            # One batch, one commit: a request is written whole or not at all.
            report = await self._run(self.writes, self.index.add_articles, batch, batch_size=len(batch) + 1, workers=1)
            return _json({"articles": report.articles, "paragraphs": report.paragraphs, "warnings": report.warnings})
        offset = _integer("offset", request.query_params.get("offset"), 0, 0, 10**9)
        limit = _integer("limit", request.query_params.get("limit"), 100, 1, MAX_PAGE)

        def page() -> dict[str, Any]:
            every = list(self.index.list_articles())
            return {"total": len(every), "offset": offset, "articles": [a.to_json() for a in every[offset:offset + limit]]}

        return _json(await self._read(page))

    async def stats(self, _request: Request) -> Response:
        stats = await self._read(self.index.stats)
        return _json(stats.to_json())

    async def health(self, _request: Request) -> Response:
        return _json({"status": "ok"})

    async def openapi(self, _request: Request) -> Response:
        return FileResponse(_web_file("openapi.json"), media_type="application/json")

    async def page(self, _request: Request) -> Response:
        return FileResponse(_web_file("index.html"), headers=_PAGE_HEADERS)


_PAGE_HEADERS = {
    # The page never runs inline code or loads anything from elsewhere.
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=dict(headers or {}))


def _web_file(name: str) -> str:
    return str(resources.files("searchkit") / "web" / name)


async def _searchkit_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, SearchkitError)
    return _json({"error": str(error)}, getattr(error, "http_status", 400), getattr(error, "headers", None))


async def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    messages = {404: "no such endpoint: see /openapi.json", 405: "method not allowed here: see /openapi.json"}
    return _json({"error": messages.get(error.status_code, str(error.detail))}, error.status_code, error.headers)


async def _internal_error(_request: Request, error: Exception) -> Response:
    # The message, never a traceback: SEARCHKIT_DEBUG=1 logs that on the server.
    if os.environ.get("SEARCHKIT_DEBUG"):
        traceback.print_exception(error)
    return _json({"error": f"internal error ({type(error).__name__}): please report it"}, 500)


def create_app(index: SearchIndex, settings: ServiceSettings | None = None) -> Any:
    """The ASGI application serving ``index`` (a :class:`Starlette` app)."""
    require_extra()
    settings = settings or ServiceSettings()
    service = _Service(index, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, service.close)

    middleware = []
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                                     allow_methods=["GET", "POST", "DELETE"],
                                     allow_headers=["Authorization", "Content-Type"], max_age=600))
    routes = [
        Route("/", service.page, methods=["GET"]),
        Route("/search", service.search, methods=["GET", "POST"]),
        Route("/articles", service.articles, methods=["GET", "POST"]),
        Route("/articles/{article_id:path}", service.article, methods=["GET", "DELETE"]),
        Route("/stats", service.stats, methods=["GET"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/openapi.json", service.openapi, methods=["GET"]),
        Mount("/static", StaticFiles(directory=_web_file("")), name="static"),
    ]
    handlers = {SearchkitError: _searchkit_error, HTTPException: _http_error, Exception: _internal_error}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)


def require_extra() -> None:
    if Starlette is None:
        raise SearchkitError("searchkit serve needs its extra: pip install 'searchkit[serve]'")


# --------------------------------------------------------------------------
# Running


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so;
    # with it on, each keep-alive answer waited 40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def default_workers() -> int:
    """``serve``'s worker processes by default: one per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def serve(index: SearchIndex, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          settings: ServiceSettings | None = None, announce: Callable[[str], None] = print,
          workers: int = 1) -> None:
    """Serve ``index`` until Ctrl-C or SIGTERM: requests in flight finish, then it returns.

    ``announce`` gets the lines to show (the URL, and warnings about the key).
    With ``workers`` > 1, that many forked processes serve (``index`` must be
    on disk, and this must be the main thread: the parent handles signals).
    """
    require_extra()
    settings = settings or ServiceSettings()
    if workers > 1:
        if index.path is None or not fork_available():
            raise SearchkitError("several worker processes need an index on disk and os.fork: use --workers 1")
        if threading.current_thread() is not threading.main_thread():
            raise SearchkitError("several worker processes are served from the main thread only: use --workers 1")
    sock = _listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    if not settings.api_key:
        announce("note: writes are disabled: no API key (--api-key or SEARCHKIT_API_KEY)")
    if host not in LOOPBACK and not settings.api_key:
        announce(f"warning: listening on {host} without an API key: anyone who can reach it can search this index")
    processes = f"{workers} worker processes; " if workers > 1 else ""
    # Said once it accepts requests (every worker does) and handles signals itself.
    ready = (f"searchkit: serving {index.path or 'an in-memory index'} at http://{shown}:{bound_port}/ "
             f"({processes}Ctrl-C stops)")
    if workers > 1:
        if settings.search_threads is None:
            settings = replace(settings, search_threads=0)
        try:
            _Workers(index, sock, settings, workers, ready, announce).run()
        finally:
            sock.close()
    else:
        server = _server(index, settings)
        server.on_ready = partial(announce, ready)
        server.run(sockets=[sock])
    announce("searchkit: stopped")


def _server(index: SearchIndex, settings: ServiceSettings, shared: bool = False) -> _QuietServer:
    """uvicorn's server of ``index``; ``shared``: a worker's, on a socket that others accept on too."""
    config = uvicorn.Config(create_app(index, settings), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=30, lifespan="on",
                            loop=f"{__name__}:_BalancedLoop" if shared else "auto")
    return _QuietServer(config)


class _Balance:
    """How many connections each worker holds, in memory shared by fork, so that a new
    connection goes to a worker holding the fewest (see :class:`_BalancedLoop`)."""

    WAIT = 0.02  # seconds a busier worker leaves a connection to the others before it takes it anyway

    def __init__(self, workers: int) -> None:
        self.counts = mmap.mmap(-1, 4 * workers)  # shared, anonymous: inherited by every fork
        self.workers = workers
        self.slot = 0
        self.connections: Callable[[], int] = lambda: 0
        self.waiting_since: float | None = None

    def set(self, slot: int, count: int) -> None:
        struct.pack_into("=i", self.counts, 4 * slot, count)

    def defer(self) -> bool:
        """Whether this worker should leave the waiting connection to a worker holding fewer."""
        mine = self.connections()
        self.set(self.slot, mine)
        fewest = min(struct.unpack_from(f"={self.workers}i", self.counts))
        now = time.monotonic()
        if mine <= fewest:
            self.waiting_since = None
            return False
        if self.waiting_since is None:
            self.waiting_since = now
        if now - self.waiting_since >= self.WAIT:  # the others do not take it (busy, or stopping)
            self.waiting_since = None
            return False
        return True


class _BalancedLoop(asyncio.SelectorEventLoop):
    """asyncio's loop for a worker: it accepts one connection at a time, and only when it
    holds no more connections than any other worker (or one has waited ``_Balance.WAIT``).

    asyncio accepts every connection waiting at once: with keep-alive
    clients the worker that woke first kept nearly all of a burst (15 of the
    benchmark's 16 clients, the other core idle). Every worker wakes for each
    new connection; the busier ones step aside for a moment, as asyncio does
    itself when out of file descriptors. (It overrides a private method of
    asyncio's; without it, asyncio accepts as before.)
    """

    balance: _Balance | None = None

    def _accept_connection(self, protocol_factory: Any, sock: Any, sslcontext: Any = None, server: Any = None,
                           backlog: int = 100, *args: Any, **kwargs: Any) -> None:
        if self.balance is not None and self.balance.defer():
            self._remove_reader(sock.fileno())  # type: ignore[attr-defined]
            self.call_later(0.002, self._serve_again, protocol_factory, sock, sslcontext, server, backlog, *args)
            return
        super()._accept_connection(protocol_factory, sock, sslcontext, server, 1, *args, **kwargs)  # type: ignore[misc]

    def _serve_again(self, protocol_factory: Any, sock: Any, sslcontext: Any, server: Any, backlog: int,
                     *args: Any) -> None:
        if sock.fileno() >= 0 and (server is None or server.is_serving()):
            self._start_serving(protocol_factory, sock, sslcontext, server, backlog, *args)  # type: ignore[attr-defined]


if Starlette is not None:
    class _QuietServer(uvicorn.Server):
        """uvicorn's server, which returns after a signal instead of raising it again
        once shut down: the CLI exits 0 after a clean stop. It calls ``on_ready`` once started."""

        on_ready: Callable[[], Any] = staticmethod(lambda: None)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                self.on_ready()

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)


# --------------------------------------------------------------------------
# Worker processes

_PID = struct.Struct("=i")  # what a worker writes to the parent's pipe once it accepts requests
RESTARTS_PER_MINUTE = 10  # more replaced workers than this in a minute: the service stops


class _Workers:
    """The parent of ``serve --workers N``: forks the workers (after the socket is bound,
    which they share), says the URL once every one accepts requests, and supervises.

    * SIGTERM or Ctrl-C (SIGINT): the parent stops listening and sends SIGTERM
      to every worker; each answers its requests in flight, commits its
      write as ``serve`` does and exits; then ``run`` returns. A second
      SIGINT is passed on, which makes uvicorn stop waiting (as for one
      process); another SIGTERM changes nothing.
    * A worker that ends while serving (killed, crashed) is replaced at once,
      with a line saying so; past ``RESTARTS_PER_MINUTE`` replacements in a
      minute, or a worker that ends before it serves, every worker is stopped
      and ``run`` raises :class:`WorkerError` (one line): never a service
      silently half up.
    * A worker whose parent dies (SIGKILL) gets SIGTERM from the kernel
      (Linux), so none is left orphaned.
    """

    def __init__(self, index: SearchIndex, sock: socket.socket, settings: ServiceSettings, count: int,
                 ready: str, announce: Callable[[str], None]) -> None:
        self.index, self.sock, self.settings, self.count = index, sock, settings, count
        self.ready, self.announce = ready, announce
        self.children: dict[int, int] = {}  # pid -> slot
        self.serving: set[int] = set()
        self.stopping = False
        self.signals = 0  # stop signals received
        self.failure: str | None = None
        self.restarts: deque[float] = deque()
        self.balance = _Balance(count)

    def run(self) -> None:
        # Shared with the workers by fork: the analyzer's dictionaries, loaded once here.
        self.index.segmenter.tokenizer  # noqa: B018 - loads jieba's dictionary
        self.index.close()  # no open files shared with the workers: each opens its own searchers
        wake_read, wake_write = os.pipe()
        self.ready_read, self.ready_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop
        try:
            gc.freeze()  # what exists now stays shared with the workers: no collection touches it
            for slot in range(self.count):
                self._start(slot)
            announced = False
            while self.children:
                select.select([wake_read, self.ready_read], [], [], 1.0)
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 512)
                self._read_ready()
                if not announced and not self.stopping and len(self.serving & set(self.children)) == self.count:
                    self.announce(self.ready)
                    announced = True
                self._reap()
        except BaseException:
            self._stop()
            while self.children:
                self._reap(block=True)
            raise
        finally:
            gc.unfreeze()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for fd in (wake_read, wake_write, self.ready_read, self.ready_write):
                os.close(fd)
        if self.failure:
            raise WorkerError(self.failure)

    def _read_ready(self) -> None:
        """Note the workers that said they accept requests."""
        while self.ready_read in select.select([self.ready_read], [], [], 0)[0]:
            data = os.read(self.ready_read, _PID.size * 64)  # whole messages: each write is atomic
            self.serving.update(pid for (pid,) in _PID.iter_unpack(data))

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.signals += 1
        if self.signals == 1:
            self._stop()
        elif signum == signal.SIGINT:  # Ctrl-C again: as for one process, they stop waiting for connections
            self._signal_children(signal.SIGINT)

    def _stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.sock.close()  # no new connection waits in a backlog that no one will accept
            self._signal_children(signal.SIGTERM)

    def _signal_children(self, sig: int) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _reap(self, block: bool = False) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            slot = self.children.pop(pid, None)
            if slot is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                if code != 0 and not self.failure:
                    self.failure = f"worker process {pid} {_ended(code)} while stopping"
                continue
            self._read_ready()  # what it said before it ended
            if pid not in self.serving:
                self._fail(f"a worker process {_ended(code)} before it could serve: stopped")
                continue
            self.serving.discard(pid)
            now = time.monotonic()
            self.restarts.append(now)
            while self.restarts and self.restarts[0] < now - 60:
                self.restarts.popleft()
            if len(self.restarts) > RESTARTS_PER_MINUTE:
                self._fail(f"worker processes keep ending ({len(self.restarts)} in a minute, the last one "
                           f"{_ended(code)}): stopped")
                continue
            replacement = self._start(slot)
            self.announce(f"searchkit: worker process {pid} {_ended(code)}; started process {replacement} instead")

    def _fail(self, message: str) -> None:
        self.failure = self.failure or message
        self._stop()

    def _start(self, slot: int) -> int:
        for stream in (sys.stdout, sys.stderr):  # what is buffered is printed once, not by each child too
            with contextlib.suppress(Exception):
                stream.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = self._work(parent, slot)
            except KeyboardInterrupt:
                code = 0
            except SearchkitError as error:
                print(f"Error: worker process {os.getpid()}: {error}", file=sys.stderr)
                code = error.exit_code
            except BaseException as error:  # noqa: BLE001 - a worker never returns into the parent's code
                print(f"Error: worker process {os.getpid()}: internal error ({type(error).__name__}: {error})",
                      file=sys.stderr)
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        self.children[pid] = slot
        return pid

    def _work(self, parent: int, slot: int) -> int:
        """A worker: serve on the shared socket until SIGTERM; its exit code."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # until uvicorn handles it: nothing in flight yet
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _end_with_parent(parent)
        server = _server(self.index, self.settings, shared=True)
        self.balance.slot = slot
        self.balance.set(slot, 0)
        self.balance.connections = lambda: len(server.server_state.connections)
        _BalancedLoop.balance = self.balance
        ready_write = self.ready_write
        server.on_ready = lambda: os.write(ready_write, _PID.pack(os.getpid()))
        server.run(sockets=[self.sock])
        return 0 if server.started else EXIT_FAILED


def _ended(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was ended by {signal.Signals(-code).name}"
        return f"was ended by signal {-code}"
    return f"exited with code {code}"


def _end_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux), so no worker
    outlives a parent that was killed; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before that took effect
        os.kill(os.getpid(), signal.SIGTERM)

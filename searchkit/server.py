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
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import signal
import socket
import threading
import traceback
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from typing import Any, TypeVar

from .documents import Article
from .errors import EXIT_REFUSED, RecordError, SearchkitError
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

__all__ = ["DEFAULT_PORT", "MAX_BODY_BYTES", "MAX_PAGE", "ServiceSettings", "create_app", "require_extra", "serve"]

DEFAULT_PORT = 8750
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_PAGE = 1000  # largest limit= a request may ask for (the CLI allows more)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
T = TypeVar("T")


class ListenError(SearchkitError):
    """The server could not listen on the address it was given."""

    exit_code = EXIT_REFUSED


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
    search_threads: int = 4
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
        self.searches = ThreadPoolExecutor(max(1, settings.search_threads), thread_name_prefix="searchkit-search")
        self.writes = ThreadPoolExecutor(1, thread_name_prefix="searchkit-write")

    async def _run(self, pool: ThreadPoolExecutor, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, partial(call, *args, **kwargs))

    def close(self) -> None:
        self.writes.shutdown(wait=True)  # a batch being written is committed first
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
        result = await self._run(self.searches, self.index.search, query, **arguments)
        return _json(result.to_json())

    async def article(self, request: Request) -> Response:
        article_id = request.path_params["article_id"]
        if request.method == "DELETE":
            self._authorize(request)
            await self._run(self.writes, self.index.delete, article_id)
            return _json({"deleted": article_id})
        query = request.query_params.get("q", "").strip()
        article = await self._run(self.searches, self.index.get_article, article_id)
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

        return _json(await self._run(self.searches, page))

    async def stats(self, _request: Request) -> Response:
        stats = await self._run(self.searches, self.index.stats)
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


def serve(index: SearchIndex, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          settings: ServiceSettings | None = None, announce: Callable[[str], None] = print) -> None:
    """Serve ``index`` until Ctrl-C or SIGTERM: requests in flight finish, then it returns.

    ``announce`` gets the lines to show (the URL, and warnings about the key).
    """
    require_extra()
    settings = settings or ServiceSettings()
    sock = _listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    if not settings.api_key:
        announce("note: writes are disabled: no API key (--api-key or SEARCHKIT_API_KEY)")
    if host not in LOOPBACK and not settings.api_key:
        announce(f"warning: listening on {host} without an API key: anyone who can reach it can search this index")
    config = uvicorn.Config(create_app(index, settings), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=30, lifespan="on")
    server = _QuietServer(config)
    # Said once it accepts requests and handles signals itself.
    server.ready = f"searchkit: serving {index.path or 'an in-memory index'} at http://{shown}:{bound_port}/ (Ctrl-C stops)"
    server.announce = announce
    server.run(sockets=[sock])
    announce("searchkit: stopped")


if Starlette is not None:
    class _QuietServer(uvicorn.Server):
        """uvicorn's server, which returns after a signal instead of raising it again
        once shut down: the CLI exits 0 after a clean stop. It announces ``ready`` once started."""

        ready = ""
        announce: Callable[[str], None] = print

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                self.announce(self.ready)

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

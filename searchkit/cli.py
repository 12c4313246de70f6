"""The ``searchkit`` command: argument parsing and output formatting only.

Each command opens the index and calls one method of the API (the names the
``searchkit`` package exports). Exit codes are :data:`searchkit.errors.EXIT_CODES`;
errors carry theirs. Interrupted or terminated, a command stops as Ctrl-C
stops it: the batch being written is dropped, what was committed stays.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import click

from . import (
    DEFAULT_BATCH_SIZE,
    AnalyzerSettings,
    SearchIndex,
    analyze,
    render_ansi,
    render_html,
    render_plain,
)
from .errors import (
    EXIT_FAILED,
    EXIT_INDEX,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    QueryError,
    SearchkitError,
)

GRAMS_HELP = (
    "A new index's keyword grams: 1, characters (the default: keywords are answered from "
    "suffix arrays), or 2, characters and their bigrams (a larger index, slower to build, "
    "no faster since suffix arrays; kept for indexes made with it)."
)


PINYIN_HELP = (
    "A new index records each Chinese character's pinyin readings: an ASCII keyword that reads as pinyin "
    "(zhufeng, zf, zhuf, 珠feng) then finds the characters too, after literal matches. A larger index, "
    "slower to build; `reindex --pinyin` adds them to an index."
)


class SearchkitClickError(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _click_error(error: SearchkitError) -> SearchkitClickError:
    return SearchkitClickError(str(error), error.exit_code)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except SearchkitError as error:
        raise _click_error(error) from error


# Indexes this run opened, so an unexpected failure can be told apart from a
# damaged index (see main()).
_OPENED: list[Any] = []


def _open(ctx: click.Context, create: bool = False, grams: int | None = None, pinyin: bool = False,
          **sharding: Any) -> Any:
    """The index at --index DIR, single or sharded (``sharding``: shards, placement, scheduler, for ``index``)."""
    opts = ctx.obj
    settings = None
    if grams is not None or pinyin:  # the index's own settings but for these (a new index: the defaults)
        settings = SearchIndex.recorded_settings(opts["index"]) or AnalyzerSettings()
        settings = replace(settings, grams=settings.grams if grams is None else grams, pinyin=settings.pinyin or pinyin)
    with _errors():
        index = SearchIndex.open(opts["index"], create=create, settings=settings, lock_timeout=opts["lock_timeout"],
                                 **sharding)
    _OPENED.append(index)
    if not isinstance(index, SearchIndex):  # sharded: its Dask client and local cluster end with the command
        ctx.call_on_close(index.close)
    return index


class _Unexpected(Exception):
    """An exception click must not see: it turns EOFError into "interrupted"."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EOFError as error:  # a truncated index file, not Ctrl-D
            raise _Unexpected(error) from error
        except KeyboardInterrupt as stop:  # click would print a blank line first
            raise _Interrupted(_exit_code_of(stop)) from None


class _Interrupted(Exception):
    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code)
        self.exit_code = exit_code


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be: every
    writer drops its batch on the way out, as it does for Ctrl-C."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated()


def _exit_code_of(stop: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(stop, _Terminated) else EXIT_INTERRUPTED


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--index",
    "index_dir",
    envvar="SEARCHKIT_INDEX",
    default="index",
    show_default=True,
    type=click.Path(),
    help="Index directory (or $SEARCHKIT_INDEX).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for another writer's lock.",
)
@click.version_option(package_name="searchkit")
@click.pass_context
def cli(ctx: click.Context, index_dir: str, lock_timeout: float) -> None:
    """Chinese full-text search: index texts, search them with highlighted snippets."""
    ctx.obj = {"index": index_dir, "lock_timeout": lock_timeout}


def index_option(command: Any) -> Any:
    """``--index DIR`` after the command too (``searchkit search Q --index DIR``), with the same meaning."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.obj["index"] = value

    return click.option(
        "--index", "index_dir", type=click.Path(), default=None, expose_value=False, callback=remember,
        help="Index directory (as before the command).",
    )(command)


@cli.command("index")
@index_option
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "txt", "md", "jsonl", "newspaper"]),
    default="auto",
    show_default=True,
    help="How to read the inputs.",
)
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching GLOB (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching GLOB (repeatable).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Articles per commit, fewer when they hold more than 500,000 characters "
    "(a crash loses at most one batch).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes analyzing and writing text (default: CPUs, at most 4; 1 = none besides this one); "
    "for a sharded index without --scheduler, the local Dask cluster's workers (default: one per core).",
)
@click.option("--grams", type=click.Choice(["1", "2"]), default=None, help=GRAMS_HELP)
@click.option("--pinyin", is_flag=True, help=PINYIN_HELP)
@click.option("--prune", is_flag=True,
              help="Remove the articles of files indexed before under the folders given that are gone.")
@click.option("--shards", type=click.IntRange(min=1), default=None, metavar="N",
              help="Make (or add to) a sharded index of N shards, written by Dask workers; an existing "
              "sharded index must have N (it is used without the option too).")
@click.option("--scheduler", metavar="ADDRESS",
              help="The Dask scheduler (tcp://host:8786) whose workers write the shards; default: a local "
              "cluster of --workers processes (one per core).")
@click.option("--placement", type=click.Choice(["shared", "workers"]), default="shared", show_default=True,
              help="A new sharded index's shards: in DIR (storage every worker sees at the same path), or on "
              "the workers' own disks (needs --scheduler), each worker serving its shards' searches.")
@click.pass_context
def index_command(
    ctx: click.Context,
    paths: tuple[str, ...],
    fmt: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    batch_size: int,
    workers: int | None,
    grams: str | None,
    pinyin: bool,
    prune: bool,
    shards: int | None,
    scheduler: str | None,
    placement: str,
) -> None:
    """Index files and folders (.txt, .md, .jsonl); - reads stdin.

    Unchanged files are skipped, changed ones replace their own articles, and
    a file that moved keeps its articles under its new path. A bad JSONL
    record is reported (path:line: reason) and skipped alone; a missing path
    fails alone. Files indexed before under the folders given that are gone
    are reported (--prune removes their articles). Commits every --batch-size
    articles: killed, it keeps the batches committed so far, and running the
    same command again completes the rest.

    With --shards N (or on a sharded index), the index is N ordinary indexes, each
    article in the one a hash of its id picks: this process reads the inputs and
    Dask workers analyse and write the shards' batches side by side. Every other
    command works on it as on one index.
    """
    if placement == "workers" and scheduler is None:
        raise SearchkitClickError("--placement workers needs --scheduler ADDRESS: a Dask cluster that outlives "
                                  "this command holds the shards", EXIT_USAGE)
    if (scheduler is not None or placement != "shared") and shards is None and not SearchIndex.is_sharded(ctx.obj["index"]):
        raise SearchkitClickError("--scheduler and --placement are for a sharded index: add --shards N", EXIT_USAGE)
    sharding = {"shards": shards, "placement": placement, "scheduler": scheduler} if shards or scheduler else {}
    index = _open(ctx, create=True, grams=None if grams is None else int(grams), pinyin=pinyin, **sharding)
    with _progress() as progress, _errors():
        report = index.add_files(
            list(paths),
            fmt=fmt,
            include=include,
            exclude=exclude,
            stdin=sys.stdin.buffer,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            prune=prune,
        )
    for _name, message in report.skipped:
        click.echo(f"note: {message}", err=True)
    for old, new in report.moved:
        click.echo(f"note: {old} moved to {new}: its articles follow it", err=True)
    for name in report.gone:
        click.echo(f"note: {name} is gone (--prune removes its articles)", err=True)
    for name in report.pruned:
        click.echo(f"note: {name} is gone: its articles were removed", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for _name, message in [*report.failed, *report.failed_records]:
        click.echo(f"error: {message}", err=True)
    click.echo(f"indexed: {report.summary()}")
    if not report.ok:
        ctx.exit(EXIT_FAILED)


@contextmanager
def _progress(label: str = "indexing") -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal; a no-op otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    state: dict[str, Any] = {}

    def update(event: str, amount: int) -> None:
        if event == "start":
            bar = click.progressbar(length=amount, label=label, file=sys.stderr)
            bar.__enter__()
            state["bar"] = bar
        elif "bar" in state:
            state["bar"].update(amount)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def search_options(command: Any) -> Any:
    """What a search takes besides its query: paging, level, sorting, facets and filters (defined once)."""
    options = [
        click.option("--limit", "-n", type=click.IntRange(1, 10000), default=10, show_default=True),
        click.option("--offset", type=click.IntRange(0, 10000), default=0, show_default=True,
                     help="Skip this many hits (the total counts them all)."),
        click.option("--level", type=click.Choice(["article", "paragraph"]), default="article", show_default=True,
                     help="article: one hit per article, each keyword in its title or any of its paragraphs; "
                     "paragraph: every keyword in the paragraph itself."),
        click.option("--sort", type=click.Choice(["relevance", "date", "-date"]), default="relevance", show_default=True,
                     help="Relevance, or date (oldest first) or -date (newest first); undated articles last."),
        click.option("--facets", default="", metavar="NAMES",
                     help="Count every match by these, comma-separated: source, author, tag, year, month."),
        click.option("--from", "date_from", metavar="DATE", help="Only articles dated from DATE (2023-12-01, 2023-12 or 2023)."),
        click.option("--to", "date_to", metavar="DATE", help="Only articles dated up to DATE, included."),
        click.option("--source", "sources", multiple=True, metavar="S", help="Only articles from S (repeatable: any of them)."),
        click.option("--author", "authors", multiple=True, metavar="A", help="Only articles by A (repeatable: any of them)."),
        click.option("--tag", "tags", multiple=True, metavar="T", help="Only articles tagged T (repeatable: any of them)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _search_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """The API's keyword arguments from the options of :func:`search_options`."""
    return {
        "limit": options["limit"], "offset": options["offset"], "level": options["level"], "sort": options["sort"],
        "facets": [name.strip() for name in options["facets"].split(",") if name.strip()],
        "date_from": options["date_from"], "date_to": options["date_to"],
        "source": options["sources"], "author": options["authors"], "tag": options["tags"],
    }


@cli.command("search", context_settings={"ignore_unknown_options": True})
@index_option
@click.argument("query")
@search_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object (one per line with QUERY -).")
@click.option("--no-synonyms", "no_synonyms", is_flag=True, help="Keywords match as typed only, not the index's synonyms.")
@click.option("--allow-partial", is_flag=True,
              help="A sharded index: when shards cannot be reached, answer from the others (JSON names the "
              "missing ones in partial_shards) instead of failing.")
@click.option(
    "--render",
    type=click.Choice(["auto", "color", "plain", "html"]),
    default="auto",
    show_default=True,
    help="Highlighting: colour on a terminal, [brackets] otherwise, or HTML <mark>.",
)
@click.pass_context
def search_command(ctx: click.Context, query: str, as_json: bool, render: str, no_synonyms: bool, allow_partial: bool,
                   **options: Any) -> None:
    """Search; QUERY - reads one query per line from stdin and prints JSON lines.

    The query may hold filters (source:新华社 author:卓玛 tag:民生 date:2023-12
    date:2023-12-01..2024-01-31); they and the options' filters all hold.
    Each keyword also matches its synonyms (see `synonyms`); hits holding
    the keywords as typed rank first.
    """
    index = _open(ctx)
    arguments = {**_search_arguments(options), "synonyms": not no_synonyms, "allow_partial": allow_partial}
    if query == "-":
        failed = False
        with _errors():
            for line in sys.stdin:
                text = line.rstrip("\r\n")
                try:
                    _echo_json(index.search(text, **arguments).to_json())
                except QueryError as error:
                    failed = True
                    click.echo(f"error: {error}", err=True)
                    _echo_json({"query": text, "total": 0, "hits": [], "error": str(error)})
                sys.stdout.flush()
        if failed:
            ctx.exit(EXIT_FAILED)
        return
    with _errors():
        result = index.search(query, **arguments)
    if as_json:
        _echo_json(result.to_json())
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if getattr(result, "partial_shards", None):
        click.echo(f"note: no answer from {', '.join(result.partial_shards)}: the hits are the other shards'", err=True)
    _print_hits(result, render)


def _print_hits(result: Any, render: str) -> None:
    if render == "auto":
        render = "color" if sys.stdout.isatty() else "plain"
    renderer = {"color": render_ansi, "plain": render_plain, "html": render_html}[render]
    if not result.hits:
        click.echo(f"no results for {result.query!r}" + (f" at offset {result.offset}" if result.offset else ""))
    else:
        first = result.offset + 1
        shown = f"showing {first}-{result.offset + len(result.hits)}" if result.offset else f"showing {len(result.hits)}"
        click.echo(f"{result.total} result{'s' if result.total != 1 else ''} for {result.query!r} ({shown})")
    for rank, hit in enumerate(result.hits, result.offset + 1):
        where = hit.article_id if hit.paragraph is None else f"{hit.article_id} ¶{hit.paragraph}"
        title = hit.title or "(untitled)"
        about = "  ".join(part for part in (hit.date, hit.source, "、".join(hit.authors)) if part)
        click.echo("")
        click.echo(f"{rank}. {title}  [{where}]  score {hit.score:.2f}")
        if about:
            click.echo(f"   {about}")
        click.echo(f"   {renderer(hit.snippet)}")
    for name, counts in (result.facets or {}).items():
        shown = ", ".join(f"{value} {count}" for value, count in list(counts.items())[:10])
        more = f", … ({len(counts) - 10} more)" if len(counts) > 10 else ""
        click.echo(f"{name}: {shown or '(none)'}{more}")


@cli.command("list")
@index_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """List the indexed articles."""
    index = _open(ctx)
    with _errors():
        articles = list(index.list_articles())
    if as_json:
        _echo_json([a.to_json() for a in articles])
        return
    for article in articles:
        click.echo(f"{article.article_id}\t{article.title}\t{len(article.paragraphs)} paragraphs")


@cli.command("show")
@index_option
@click.argument("article_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_command(ctx: click.Context, article_id: str, as_json: bool) -> None:
    """Show one article with its paragraphs and where they came from."""
    index = _open(ctx)
    with _errors():
        article = index.get_article(article_id)
    if as_json:
        _echo_json(article.to_json(with_text=True))
        return
    click.echo(article.title)
    if article.subtitle:
        click.echo(article.subtitle)
    details = [f"id: {article.article_id}"]
    if article.author:
        details.append(f"author: {article.author}")
    if article.date:
        details.append(f"date: {article.date}")
    if article.source:
        details.append(f"source: {article.source}")
    if article.tags:
        details.append(f"tags: {'、'.join(article.tags)}")
    if article.path:
        details.append(f"path: {article.path}")
    click.echo("  ".join(details))
    for ordinal, text in enumerate(article.paragraphs):
        line = f" (line {article.lines[ordinal]})" if article.lines and ordinal < len(article.lines) else ""
        click.echo(f"\n¶{ordinal}{line}\n{text}")


@cli.command("stats")
@index_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stats_command(ctx: click.Context, as_json: bool) -> None:
    """Counts, size and settings of the index."""
    index = _open(ctx)
    with _errors():
        stats = index.stats()
    if as_json:
        _echo_json(stats.to_json())
        return
    click.echo(f"index:          {stats.path}")
    if stats.shards is not None:
        where = "in the index directory" if stats.placement == "shared" else "on the workers' own disks"
        click.echo(f"shards:         {stats.shards} ({where})")
    click.echo(f"articles:       {stats.articles}")
    click.echo(f"paragraphs:     {stats.paragraphs}")
    click.echo(f"source files:   {stats.sources}")
    click.echo(f"segments:       {stats.segments} ({stats.suffix_segments} with suffix arrays)")
    if stats.analyzer.get("grams") == 1 and stats.segments_without_arrays:
        click.echo(f"                {stats.segments_without_arrays} with paragraphs but none: their keywords are answered "
                   "from postings, more slowly (`reindex` adds them)")
    if stats.segments_without_titles:
        click.echo(f"                {stats.segments_without_titles} without title tables: title keywords are answered "
                   "from postings, more slowly (`optimize` adds them)")
    click.echo(f"size on disk:   {stats.size_bytes / 1e6:.2f} MB")
    click.echo(f"schema version: {stats.schema_version}")
    click.echo(f"analyzer:       {json.dumps(stats.analyzer, ensure_ascii=False)}")


@cli.command("check")
@index_option
@click.option("--quick", is_flag=True, help="Skip reading every posting (stored documents only).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def check_command(ctx: click.Context, quick: bool, as_json: bool) -> None:
    """Verify the index: segments, stored documents, postings, consistency.

    Prints one line per problem; exits 0 when the index is sound, 3 when not.
    """
    path = ctx.obj["index"]
    with _errors():
        report = SearchIndex.check_path(path, postings=not quick)
    if as_json:
        _echo_json(report.to_json())
    else:
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        for note in report.notes:
            click.echo(f"note: {note}")
        counts = (
            f"{report.articles} articles, {report.paragraphs} paragraphs, {report.sources} source files, "
            f"{report.segments} segments, {report.terms} terms"
        )
        if report.ok:
            click.echo(f"index at {path} is sound ({counts})")
        else:
            count = len(report.problems)
            click.echo(
                f"index at {path} has {count} problem{'s' if count != 1 else ''}: "
                f"rebuild it with `searchkit --index {path} reindex`"
            )
    if not report.ok:
        ctx.exit(EXIT_INDEX)


@cli.command("reindex")
@index_option
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True, help="Articles per commit.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes analyzing and writing text.")
@click.option("--grams", type=click.Choice(["1", "2"]), default=None, help="1 or 2, as for `index` (default: the index's own).")
@click.option("--pinyin", is_flag=True, help="Add pinyin readings, as `index --pinyin` (an index keeps them once it has them).")
@click.pass_context
def reindex_command(ctx: click.Context, batch_size: int, workers: int | None, grams: str | None, pinyin: bool) -> None:
    """Rebuild the index from its own stored texts with this searchkit's schema and analyzer.

    For an index of an older schema version or other analyzer settings. The
    new index is built beside the old one and swapped in when complete, so an
    interruption leaves the old one as it was. Holds the write lock meanwhile.
    """
    path = ctx.obj["index"]
    settings = None
    if grams is not None or pinyin:  # the index's own choices but for these
        recorded = SearchIndex.recorded_settings(path) or AnalyzerSettings()
        settings = AnalyzerSettings(grams=recorded.grams if grams is None else int(grams), pinyin=recorded.pinyin or pinyin)
    with _errors():
        report = SearchIndex.reindex(path, settings=settings, lock_timeout=ctx.obj["lock_timeout"], batch_size=batch_size,
                                     workers=workers)
    click.echo(f"reindexed: {report.summary()}")


@cli.command("optimize")
@index_option
@click.pass_context
def optimize_command(ctx: click.Context) -> None:
    """Merge the index into one segment, for faster queries.

    Every query visits every segment, so an index that is done growing
    answers faster merged. Rewrites the whole index, holding the write lock;
    its time and memory grow with the index (benchmarks/RESULTS.md has the
    measurements). Interrupted, the index stays as it was.
    """
    index = _open(ctx)
    with _progress("merging") as progress, _errors():
        report = index.optimize(progress=progress)
    click.echo(f"optimized: {report.summary()}")


@cli.command("remove")
@index_option
@click.argument("targets", nargs=-1, required=True)
@click.pass_context
def remove_command(ctx: click.Context, targets: tuple[str, ...]) -> None:
    """Delete the articles of a source PATH, or an article by ID."""
    index = _open(ctx)
    for target in targets:
        with _errors():
            count = index.remove(target)
        click.echo(f"removed {count} article{'s' if count != 1 else ''} ({target})")


@cli.command("serve")
@index_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; another than loopback without --api-key gets a warning.")
@click.option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True, help="Port (0: any free one).")
@click.option("--api-key", envvar="SEARCHKIT_API_KEY", metavar="KEY",
              help="Key that writes (POST/DELETE /articles) need as 'Authorization: Bearer KEY' "
              "[env: SEARCHKIT_API_KEY]; without one, writes are refused.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Let pages from ORIGIN (https://example.org) call the API (repeatable); none by default.")
@click.option("--workers", type=click.IntRange(1, 256), metavar="N",
              help="Server processes sharing the port (a worker that ends is replaced); default: one per CPU core.")
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, api_key: str | None, cors_origins: tuple[str, ...],
                  workers: int | None) -> None:
    """Serve the index over HTTP: the JSON API (/search, /articles, /stats, /health,
    /openapi.json) and a search page at /. Ctrl-C or SIGTERM stops it once the
    requests in flight are answered. Each worker process answers one search at a
    time (one process alone searches on threads) and sees every commit (made
    through any of them, or by `index`) on its next search."""
    from . import server  # Starlette and uvicorn load only here

    with _errors():
        server.require_extra()  # before an empty index is made
    if SearchIndex.is_sharded(ctx.obj["index"]):
        if (workers or 1) > 1:
            raise SearchkitClickError("a sharded index is served by one process (its searches fan out to the "
                                      "shards from there): leave out --workers", EXIT_USAGE)
        workers = 1
    created = not SearchIndex.exists(ctx.obj["index"])
    index = _open(ctx, create=True)
    if created:
        click.echo(f"note: created an empty index at {ctx.obj['index']}")
    settings = server.ServiceSettings(api_key=api_key or None, cors_origins=cors_origins)
    with _errors():
        server.serve(index, host=host, port=port, settings=settings, announce=lambda line: click.echo(line),
                     workers=workers or server.default_workers())


@cli.command("analyze")
@index_option
@click.argument("text")
@click.option("--query", "query_mode", is_flag=True,
              help="Show what a search for TEXT does on the index: keywords, their exact grams, "
              "the lexicon's split and the ranking words with their document frequencies.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def analyze_command(ctx: click.Context, text: str, query_mode: bool, as_json: bool) -> None:
    """Show how the index's analyzer cuts TEXT, or what a search for it does.

    Without --query: the normalized text, its jieba search-mode tokens
    (positions, offsets into TEXT) and its grams, as the index at DIR would
    write them (the default analyzer where DIR holds no index yet). With
    --query: the query's keywords and the grams each must match exactly, the
    split of each keyword into the index's words, and the ranking words with
    how many paragraphs hold each (the index at DIR must exist).
    """
    with _errors():
        result = analyze(ctx.obj["index"], text, query=query_mode, lock_timeout=ctx.obj["lock_timeout"])
    data = result.to_json()
    if as_json:
        _echo_json(data)
        return
    click.echo(f"normalized: {data['normalized']}")
    if not query_mode:
        click.echo("tokens (position  start-end  token  original):")
        for t in data["tokens"]:
            click.echo(f"  {t['position']:>4}  {t['start']:>4}-{t['end']:<4}  {t['text']}  {t['original']}")
        click.echo(f"grams: {' '.join(data['grams'])}")
        return
    for k in data["keywords"]:
        split = f"; words {' '.join(k['words'])}" if k["words"] else ""
        also = f"; or its synonyms {', '.join(k['synonyms'])}" if k.get("synonyms") else ""
        also += f"; or read as pinyin {k['pinyin']}" if k.get("pinyin") else ""
        click.echo(f"keyword {k['keyword']!r} ({k['field']}): exact on grams {' '.join(k['grams'])}{split}{also}")
    ranking = "  ".join(f"{w['word']} ({w['doc_frequency']})" for w in data["ranking_words"])
    click.echo(f"ranking words (document frequency in text + titles): {ranking or 'none'}")
    for condition in data["filters"]:
        click.echo(f"filter: {condition}")
    for note in data["notes"]:
        click.echo(f"note: {note}")


def list_file_options(what: str) -> Any:
    """FILE, --show and --clear: a command that sets, prints or removes one of the index's lists (defined once)."""

    def decorate(command: Any) -> Any:
        command = click.option("--clear", is_flag=True, help=f"Remove the index's {what}.")(command)
        command = click.option("--show", is_flag=True, help=f"Print the index's {what}, as set.")(command)
        return click.argument("file", required=False, type=click.Path(dir_okay=False))(command)

    return decorate


def _one_of(name: str, file: str | None, show: bool, clear: bool) -> None:
    if (file is not None) + show + clear != 1:
        raise SearchkitClickError(f"{name} takes FILE, --show or --clear (one of them)", EXIT_USAGE)


@cli.command("synonyms")
@index_option
@list_file_options("synonyms")
@click.pass_context
def synonyms_command(ctx: click.Context, file: str | None, show: bool, clear: bool) -> None:
    """Set the index's synonyms from FILE (replacing any before), or --show or --clear them.

    One rule a line, in the Solr format: "珠峰, 珠穆朗玛峰" (each term finds the
    others), "沪 => 上海" (沪 finds 上海 too, not the reverse); # starts a
    comment. Terms are normalized as text is. Searches apply the list at once
    (no reindex): each keyword also matches its synonyms (at most 8), and hits
    with the keyword as typed rank first. A malformed line is reported
    (FILE:LINE: reason, exit 1) and the rest is set.
    """
    _one_of("synonyms", file, show, clear)
    index = _open(ctx)
    if show:
        _echo_lines(index.synonyms)
    elif clear:
        with _errors():
            count = index.clear_synonyms()
        click.echo(f"synonyms: {count} rule{'s' if count != 1 else ''} removed")
    else:
        _echo_report(ctx, "synonyms", index.load_synonyms, file)


def _echo_lines(listed: Any) -> None:
    """A list setting's lines, as set."""
    with _errors():
        lines = listed()
    for line in lines:
        click.echo(line)


def _echo_report(ctx: click.Context, name: str, load: Any, *args: Any) -> None:
    """Set a list from a file: an error line per malformed line, the summary, exit 1 if any was malformed."""
    with _errors():
        report = load(*args)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    click.echo(f"{name}: {report.summary()}")
    if not report.ok:
        ctx.exit(EXIT_FAILED)


@cli.command("dictionary")
@index_option
@list_file_options("user dictionary")
@click.pass_context
def dictionary_command(ctx: click.Context, file: str | None, show: bool, clear: bool) -> None:
    """Set the index's user dictionary from FILE (replacing any before), or --show or --clear it.

    jieba's user-dictionary format, one word a line: "word [frequency] [tag]"
    (both optional); # starts a comment. The words go to this index's own
    segmenter: they change the words that rank paragraphs, never which
    paragraphs a keyword finds. Only the paragraphs and titles holding a word
    that changed are analysed again (found by exact search), and counted. A
    malformed line is reported (FILE:LINE: reason, exit 1) and the rest is set.
    """
    _one_of("dictionary", file, show, clear)
    index = _open(ctx)
    if show:
        _echo_lines(index.dictionary)
    elif clear:
        _echo_report(ctx, "dictionary", index.clear_dictionary)
    else:
        _echo_report(ctx, "dictionary", index.load_dictionary, file)


def main() -> None:
    """Entry point: no traceback ever reaches the user."""
    with _sigterm_as_interrupt():
        _main()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`_Terminated` while the command runs.

    Only over the default action, which would end the process at once, with
    no message, mid-batch (an embedding program's own handler stays).
    """
    installed = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if installed:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _main() -> None:
    try:
        # Without standalone mode, click returns ctx.exit()'s code instead of exiting.
        code = cli.main(prog_name="searchkit", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort as stop:  # click's wrapping of a KeyboardInterrupt outside a command
        click.echo("interrupted", err=True)
        cause = stop.__cause__
        sys.exit(_exit_code_of(cause) if isinstance(cause, KeyboardInterrupt) else EXIT_INTERRUPTED)
    except _Interrupted as stop:
        click.echo("interrupted", err=True)
        sys.exit(stop.exit_code)
    except KeyboardInterrupt as stop:
        click.echo("interrupted", err=True)
        sys.exit(_exit_code_of(stop))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except SearchkitError as error:
        _click_error(error).show()
        sys.exit(_click_error(error).exit_code)
    except Exception as error:  # noqa: BLE001 - last line of defence
        if isinstance(error, _Unexpected):
            error = error.error  # type: ignore[assignment]
        if os.environ.get("SEARCHKIT_DEBUG"):
            raise error from None
        damaged = _damage_of(error)
        if damaged:
            click.echo(f"Error: {damaged}", err=True)
            sys.exit(EXIT_INDEX)
        click.echo(f"Error: internal error ({type(error).__name__}: {error}); set SEARCHKIT_DEBUG=1 for details", err=True)
        sys.exit(EXIT_INTERNAL)


def _damage_of(error: BaseException) -> str | None:
    """After an unexpected failure: the damage message if the index is damaged.

    Opening verifies the segments, but damage inside one shows only when that
    part is read; a full check tells a damaged index from a bug.
    """
    for index in _OPENED:
        damage = index.damage_message(error)
        if damage:
            return damage
    return None


if __name__ == "__main__":
    main()

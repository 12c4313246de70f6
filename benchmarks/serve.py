"""`searchkit serve` under load, on loopback: searches per second and p50/p99 latency with
1, 4 and 16 concurrent clients, then with 16 while `POST /articles` imports poems, for each
`--workers` count compared, against the CLI's own batch mode (`search -`) on the same index and queries.

    python benchmarks/serve.py --tang 50000 --seconds 10 --import-poems 5000 [--workers 1,2] [--rounds 3]

The worker counts run in turns, `--rounds` times, in alternating order (the first runner of a
pair is favoured on a shared machine); each figure is the median over the rounds, and the ratios
compare the counts within the same run. Each server starts on a fresh copy of the index (the
imports change it). Every phase is bounded in time; the server listens on 127.0.0.1 only and is
stopped with SIGTERM after each turn. The clients are asyncio connections with keep-alive in this
process (one core's worth of client against the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    DEFAULT_TANG,
    eprint,
    load_tang,
    markdown_table,
    percentile,
    provenance,
    searchkit_cmd,
    write_jsonl,
)

KEY = "bench-key"


def keywords(docs, count: int, seed: int = 7) -> list[str]:
    """Random 2-character keywords from the poems (what readers of poems search)."""
    rng = random.Random(seed)
    found = []
    while len(found) < count:
        text = rng.choice(rng.choice(docs).paragraphs)
        at = rng.randrange(max(1, len(text) - 2))
        word = text[at:at + 2]
        if len(word) == 2 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
            found.append(word)
    return found


def batch_mode(index_dir: Path, queries: list[str]) -> dict:
    """The CLI's per-query time in `search - --json`: (all queries - one query) / (n - 1), median of 3."""
    def run(lines: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run([*searchkit_cmd(), "--index", str(index_dir), "search", "-", "--json"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, check=True)
        return time.perf_counter() - start

    per_query = sorted((run(queries) - run(queries[:1])) / (len(queries) - 1) for _ in range(3))[1]
    return {"per_query_ms": per_query * 1000, "qps": 1 / per_query}


class Server:
    def __init__(self, index_dir: Path, workers: int) -> None:
        self.process = subprocess.Popen([*searchkit_cmd(), "--index", str(index_dir), "serve", "--port", "0", "--api-key", KEY,
                                         "--workers", str(workers)], stdout=subprocess.PIPE, text=True)
        for line in self.process.stdout:  # type: ignore[union-attr]
            if " at http://" in line:
                self.url = line.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")
                break
        host, port = urllib.parse.urlparse(self.url).netloc.split(":")
        self.host, self.port = host, int(port)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


class _Client(asyncio.Protocol):
    """One keep-alive connection sending the queries in turn, each once the previous one is answered
    (a protocol, not streams: the client shares the server's 2 cores, so it is kept lean)."""

    def __init__(self, requests: list[bytes], offset: int, deadline: float, stop: threading.Event,
                 latencies: list[float], errors: list[str], done: asyncio.Future) -> None:
        self.requests, self.number, self.deadline, self.stop = requests, offset, deadline, stop
        self.latencies, self.errors, self.done = latencies, errors, done
        self.buffer = bytearray()
        self.expected: int | None = None  # the whole answer's length, once its head is in
        self.status = b""
        self.waiting = False
        self.start = 0.0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        if time.perf_counter() >= self.deadline or self.stop.is_set():
            self.transport.close()
            return
        request = self.requests[self.number % len(self.requests)]
        self.number += 1
        self.waiting = True
        self.start = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.expected is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            self.status = head[9:12]
            length = _CONTENT_LENGTH.search(head)
            self.expected = end + 4 + (int(length.group(1)) if length else 0)
        if len(self.buffer) >= self.expected:
            self.latencies.append(time.perf_counter() - self.start)
            if self.status != b"200":
                self.errors.append(self.status.decode())
            del self.buffer[:self.expected]
            self.expected, self.waiting = None, False
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:  # the server closed it (or failed) with a request unanswered
            self.errors.append(type(exc).__name__ if exc else "closed")
        if not self.done.done():
            self.done.set_result(None)


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def load(server: Server, queries: list[str], clients: int, seconds: float, stop: threading.Event | None = None) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    stop = stop or threading.Event()
    requests = [f"GET /search?q={urllib.parse.quote(query)}&limit=10 HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode()
                for query in queries]

    async def run() -> float:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        deadline = start + seconds
        finished = []
        for n in range(clients):
            done = loop.create_future()
            try:
                await loop.create_connection(
                    lambda n=n, done=done: _Client(requests, n * 97, deadline, stop, latencies, errors, done),
                    server.host, server.port)
            except OSError as error:
                errors.append(type(error).__name__)
                continue
            finished.append(done)
        await asyncio.gather(*finished)
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    return {"clients": clients, "requests": len(latencies), "qps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000, "errors": len(errors)}


def post_import(server: Server, docs, batch: int, done: threading.Event, outcome: dict) -> None:
    """POST /articles of ``docs`` in batches (one commit each), as another application would."""
    start = time.perf_counter()
    try:
        for at in range(0, len(docs), batch):
            body = json.dumps([{"id": d.id, "title": d.title, "paragraphs": d.paragraphs, **d.meta} for d in docs[at:at + batch]],
                              ensure_ascii=False).encode()
            request = urllib.request.Request(server.url + "/articles", data=body, method="POST",
                                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
            with urllib.request.urlopen(request, timeout=600) as response:
                outcome.setdefault("written", 0)
                outcome["written"] += json.loads(response.read())["articles"]
    except Exception as error:  # noqa: BLE001 - reported in the table
        outcome["error"] = f"{type(error).__name__}: {error}"
    finally:
        outcome["seconds"] = time.perf_counter() - start
        done.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tang", type=int, default=50000, help="poems in the index")
    parser.add_argument("--tang-file", default=str(DEFAULT_TANG))
    parser.add_argument("--index", help="reuse (or build once into) this index directory (copied for each server)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each load phase")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}", help="worker counts to compare")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every worker count, in alternating order")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--import-poems", type=int, default=5000, help="poems POSTed per server (0: no import phase)")
    parser.add_argument("--import-batch", type=int, default=500)
    parser.add_argument("--import-clients", type=int, default=16, help="searching clients during the import")
    args = parser.parse_args()

    counts = [int(w) for w in args.workers.split(",")]
    clients = [int(c) for c in args.clients.split(",")]
    docs = load_tang(args.tang + args.import_poems, args.tang_file, metadata=True)
    base, extra = docs[:args.tang], docs[args.tang:]
    work = Path(tempfile.mkdtemp(prefix="sk-serve-"))
    index_dir = Path(args.index) if args.index else work / "ix"
    if not (index_dir / "searchkit.json").exists():
        eprint(f"indexing {len(base)} poems ...")
        data = write_jsonl(base, work / "poems.jsonl")
        subprocess.run([*searchkit_cmd(), "--index", str(index_dir), "index", str(data)], check=True, capture_output=True)
    queries = keywords(base, args.queries)
    batches: list[dict] = []
    runs: dict[int, list[list[tuple]]] = {w: [] for w in counts}  # workers -> per round, its rows
    exits: list[int] = []
    try:
        for round_ in range(args.rounds):
            eprint(f"round {round_ + 1}: batch mode ...")
            batches.append(batch_mode(index_dir, queries))
            for workers in counts if round_ % 2 == 0 else counts[::-1]:
                copy = work / f"ix-{workers}-{round_}"
                shutil.copytree(index_dir, copy)
                try:
                    rows, code = _turn(copy, workers, queries, clients, extra, args)
                finally:
                    shutil.rmtree(copy, ignore_errors=True)
                runs[workers].append(rows)
                exits.append(code)
    finally:
        if not args.index:
            shutil.rmtree(work, ignore_errors=True)
    batch_ms = statistics.median(b["per_query_ms"] for b in batches)
    print(f"# searchkit serve, {args.tang} Tang poems, {len(queries)} keyword queries, limit 10\n")
    print(provenance())
    print(f"\nMedians of {args.rounds} rounds (worker counts {', '.join(map(str, counts))} in turns, alternating order); "
          f"import: {args.import_poems} poems POSTed in batches of {args.import_batch}.\n")
    table, medians = [], {}
    for workers in counts:
        for at, first in enumerate(runs[workers][0]):
            column = [rows[at] for rows in runs[workers]]
            phase, n = first[0], first[1]
            med = [statistics.median(r[k] for r in column) for k in (2, 3, 4, 5)]
            errors = sum(r[6] for r in column)
            notes = [r[7] for r in column]
            medians[workers, phase, n] = med
            table.append((workers, phase, n, *med, errors, _import_note(notes)))
    print(markdown_table(["workers", "phase", "clients", "requests", "searches/s", "p50 ms", "p99 ms", "errors (all rounds)",
                          "import (median)"], table, digits=1))
    if len(counts) > 1:
        one, rest = counts[0], counts[1:]
        print(f"\nRatios against {one} worker(s), of the medians above (searches/s: higher is better; p99: lower is):\n")
        ratio_rows = []
        for workers in rest:
            for (w, phase, n), med in medians.items():
                if w == workers and (one, phase, n) in medians:
                    base_med = medians[one, phase, n]
                    ratio_rows.append((workers, phase, n, med[1] / base_med[1], med[3] / base_med[3]))
        print(markdown_table(["workers", "phase", "clients", "searches/s ×", "p99 ×"], ratio_rows, digits=2))
    print(f"\nCLI batch mode (`search - --json`, same queries), median of {len(batches)}: {batch_ms:.2f} ms per query, "
          f"{1000 / batch_ms:.0f} queries/s (rounds: {', '.join(format(b['per_query_ms'], '.2f') for b in batches)} ms). "
          f"Server exit codes after SIGTERM: {', '.join(map(str, exits))}.")


def _turn(index_dir: Path, workers: int, queries: list[str], clients: list[int], extra, args) -> tuple[list[tuple], int]:
    """One server's phases: (workers, phase, clients, requests, searches/s, p50, p99, errors, import note) rows."""
    rows = []
    server = Server(index_dir, workers)
    try:
        load(server, queries, 4, 2)  # warm up: searchers opened, caches filled
        for n in clients:
            eprint(f"  {workers} worker(s), {n} clients ...")
            rows.append(("search", *_row(load(server, queries, n, args.seconds)), ""))
        if args.import_poems:
            eprint(f"  {workers} worker(s), {args.import_clients} clients while importing {args.import_poems} poems ...")
            done, outcome = threading.Event(), {}
            importer = threading.Thread(target=post_import, args=(server, extra[:args.import_poems], args.import_batch,
                                                                  done, outcome))
            importer.start()
            result = load(server, queries, args.import_clients, 3600, stop=done)
            importer.join()
            note = outcome.get("error") or (outcome.get("written", 0), outcome["seconds"])
            rows.append(("search + import", *_row(result), note))
    finally:
        code = server.stop()
    return rows, code


def _import_note(notes: list) -> str:
    if not any(notes):
        return ""
    failed = [n for n in notes if isinstance(n, str) and n]
    if failed:
        return failed[0]
    written = {n[0] for n in notes}
    return f"{'/'.join(map(str, sorted(written)))} poems in {statistics.median(n[1] for n in notes):.1f} s"


def _row(result: dict) -> tuple:
    return (result["clients"], result["requests"], result["qps"], result["p50_ms"], result["p99_ms"], result["errors"])


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

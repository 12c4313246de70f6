"""`searchkit serve` under load, on loopback: searches per second and p50/p99 latency with
1, 4 and 16 concurrent clients, then the same while `POST /articles` imports poems,
against the CLI's own batch mode (`search -`) on the same index and queries.

    python benchmarks/serve.py --tang 50000 --seconds 10 --import-poems 5000 [--index DIR]

Every phase is bounded in time; the server listens on 127.0.0.1 only and is stopped at the end.
The clients are asyncio connections with keep-alive in this process (one core's worth of
client against the server's; the machine has two).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

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
    def __init__(self, index_dir: Path) -> None:
        self.process = subprocess.Popen([*searchkit_cmd(), "--index", str(index_dir), "serve", "--port", "0", "--api-key", KEY],
                                        stdout=subprocess.PIPE, text=True)
        for line in self.process.stdout:  # type: ignore[union-attr]
            if " at http://" in line:
                self.url = line.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")
                break
        host, port = urllib.parse.urlparse(self.url).netloc.split(":")
        self.host, self.port = host, int(port)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


async def _client(server: Server, queries: list[str], deadline: float, stop: threading.Event, latencies: list[float],
                  errors: list[str], offset: int) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    number = offset
    try:
        while time.perf_counter() < deadline and not stop.is_set():
            query = urllib.parse.quote(queries[number % len(queries)])
            number += 1
            start = time.perf_counter()
            writer.write(f"GET /search?q={query}&limit=10 HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
            await writer.drain()
            status = (await reader.readline()).split(b" ", 2)[1]
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b""):
                    break
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != b"200":
                errors.append(status.decode())
    except (OSError, asyncio.IncompleteReadError) as error:
        errors.append(type(error).__name__)
    finally:
        writer.close()


def load(server: Server, queries: list[str], clients: int, seconds: float, stop: threading.Event | None = None) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    stop = stop or threading.Event()

    async def run() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(_client(server, queries, deadline, stop, latencies, errors, n * 97) for n in range(clients)))
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
    parser.add_argument("--index", help="reuse (or build once into) this index directory")
    parser.add_argument("--seconds", type=float, default=10, help="length of each load phase")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--import-poems", type=int, default=5000)
    parser.add_argument("--import-batch", type=int, default=500)
    args = parser.parse_args()

    docs = load_tang(args.tang + 3 * args.import_poems, args.tang_file, metadata=True)
    base, extra = docs[:args.tang], docs[args.tang:]
    work = Path(tempfile.mkdtemp(prefix="sk-serve-"))
    index_dir = Path(args.index) if args.index else work / "ix"
    if not (index_dir / "searchkit.json").exists():
        eprint(f"indexing {len(base)} poems ...")
        data = write_jsonl(base, work / "poems.jsonl")
        subprocess.run([*searchkit_cmd(), "--index", str(index_dir), "index", str(data)], check=True, capture_output=True)
    queries = keywords(base, args.queries)
    eprint("batch mode ...")
    batch = batch_mode(index_dir, queries)
    rows = []
    server = Server(index_dir)
    try:
        load(server, queries, 4, 2)  # warm up: searchers opened, caches filled
        for clients in (int(c) for c in args.clients.split(",")):
            eprint(f"{clients} clients ...")
            rows.append(("search", *_row(load(server, queries, clients, args.seconds)), ""))
        for round_, clients in enumerate(int(c) for c in args.clients.split(",")):
            eprint(f"{clients} clients while importing {args.import_poems} poems ...")
            done, outcome = threading.Event(), {}
            poems = extra[round_ * args.import_poems:(round_ + 1) * args.import_poems]
            importer = threading.Thread(target=post_import, args=(server, poems, args.import_batch, done, outcome))
            importer.start()
            result = load(server, queries, clients, 600, stop=done)
            importer.join()
            note = outcome.get("error") or f"{outcome.get('written', 0)} poems in {outcome['seconds']:.1f} s"
            rows.append(("search + import", *_row(result), note))
    finally:
        code = server.stop()
    print(f"# searchkit serve, {args.tang} Tang poems, {len(queries)} keyword queries, limit 10\n")
    print(provenance())
    print(markdown_table(["phase", "clients", "requests", "searches/s", "p50 ms", "p99 ms", "errors", "import"], rows, digits=1))
    print(f"\nCLI batch mode (`search - --json`, same queries): {batch['per_query_ms']:.2f} ms per query, "
          f"{batch['qps']:.0f} queries/s. Server exit code after SIGTERM: {code}.")


def _row(result: dict) -> tuple:
    return (result["clients"], result["requests"], result["qps"], result["p50_ms"], result["p99_ms"], result["errors"])


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

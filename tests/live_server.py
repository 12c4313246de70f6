"""A real `searchkit serve` process for the tests: started on a free port, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "searchkit.cli"]


class LiveServer:
    """``searchkit --index DIR [OPTIONS] serve --port 0 [ARGS]``; ``lines`` is what it printed up to its URL."""

    def __init__(self, index_dir: Path, *args: str, options: Sequence[str] = (), api_key: str | None = None) -> None:
        env = {name: value for name, value in os.environ.items() if name != "SEARCHKIT_API_KEY"}
        if api_key:
            env["SEARCHKIT_API_KEY"] = api_key
        self.process = subprocess.Popen(
            [*CLI, "--index", str(index_dir), *options, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: list[str] = []
        while True:
            line = self.process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                raise AssertionError(f"the server did not start: {self.process.communicate()}")
            self.lines.append(line.rstrip("\n"))
            if " at http://" in line:
                self.url = line.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")
                break

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 60) -> tuple[int, Any]:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM; the exit code and what it printed after its start lines."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err

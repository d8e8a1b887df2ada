"""Slow clients against the web server: the previously documented gunicorn (sync workers, WSGI)
vs `make serve` (gunicorn's ASGI worker), both with --workers 2 and DEBUG=0.

Per round and server: `--drippers` connections send a POST's headers and then one body byte per
0.5 s (never finishing); meanwhile `--requests` sequential GET /healthz from a normal client are
timed (a 40 s timeout each). Reports per server the median and the slowest of those requests and
how many failed, medians over the rounds; servers alternate which goes first.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {
    "gunicorn sync (WSGI)": ["config.wsgi:application", "--workers", "2"],
    "make serve (ASGI)": ["--config", "config/gunicorn.conf.py"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), *args, "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={**env, "PORT": str(port), "BIND_HOST": "127.0.0.1", "WEB_CONCURRENCY": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if get(port, "/healthz", 2) == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("server did not start")


def measure(port: int, drippers: int, requests: int) -> tuple[list[float], int]:
    stop = threading.Event()
    socks = []
    for _ in range(drippers):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            b"POST /signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )
        socks.append(sock)

    def drip() -> None:
        while not stop.wait(0.5):
            for sock in socks:
                with contextlib.suppress(OSError):  # the server closed it: keep dripping others
                    sock.sendall(b" ")

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    time.sleep(1)
    times, failed = [], 0
    for _ in range(requests):
        began = time.perf_counter()
        try:
            ok = get(port, "/healthz", 40) == 200
        except OSError:
            ok = False
        times.append(time.perf_counter() - began)
        failed += not ok
    stop.set()
    thread.join()
    for sock in socks:
        sock.close()
    return times, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drippers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=5)
    options = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="offload-slow-"))
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "OFFLOAD_VAR_DIR": str(var),
    }
    python = str(ROOT / ".venv/bin/python")
    for command in (
        ["migrate", "-v0"],
        ["createcachetable"],
        ["collectstatic", "--noinput", "-v0"],
    ):
        subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True)
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in SERVERS}
    for round_number in range(options.rounds):
        order = list(SERVERS) if round_number % 2 == 0 else list(reversed(SERVERS))
        for name in order:
            port = free_port()
            process = start(SERVERS[name], env, port)
            try:
                times, failed = measure(port, options.drippers, options.requests)
            finally:
                process.terminate()
                process.wait(timeout=30)
            results[name].append((statistics.median(times), max(times), failed))
            print(
                f"round {round_number + 1} {name}: median {statistics.median(times):.3f} s, "
                f"slowest {max(times):.3f} s, failed {failed}",
                flush=True,
            )
    print(f"\n{options.drippers} dripping connections, 2 web processes, {options.rounds} rounds")
    for name, rows in results.items():
        medians = [row[0] for row in rows]
        print(
            f"{name:22} median of medians {statistics.median(medians):.3f} s "
            f"(rounds {min(medians):.3f}-{max(medians):.3f}), slowest "
            f"{max(row[1] for row in rows):.3f} s, failed {sum(row[2] for row in rows)}"
        )


if __name__ == "__main__":
    main()

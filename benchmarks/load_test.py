"""HTTP load test of ``sessionrec serve`` on loopback: throughput, latency, and no 5xx under abuse.

Without ``--url`` it builds SR-GNN over the Diginetica catalogue (43,097 items; see
``serving_latency.build_model``), saves it as a run in a temporary directory and starts
``sessionrec serve`` on a free loopback port; with ``--url`` it targets a running
server, which must be on 127.0.0.1. ``--concurrency`` closed-loop clients (plain asyncio
streams on uvloop, one HTTP/1.1 keep-alive connection each, requests encoded before the
timed loop: see ``loadgen.py``) send a precomputed, seeded request mix: stateless
recommendations for real test prefixes, clicks on stored sessions, and ``--malformed``
(10%) bad requests of eight kinds (invalid JSON, wrong id types, k=0, empty session,
missing field, unknown session, oversized body, float ids). Each answer's status is
checked (200 for a valid request, the expected 4xx for a malformed one). Each repeat is
bounded both in requests and in seconds; the report gives each repeat and the medians,
and the CPU time per request of the server (from /proc) and of the load generator.
``--pin`` puts the server on core 0 and the load generator on core 1 (Linux).

    .venv/bin/python benchmarks/load_test.py --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import TRANSPORT_ERROR, Encoded, encode_request, loop_name, run_async, run_load
from serving_latency import DEFAULT_DATA, ROOT, build_model, save_as_run, test_sessions

Request = tuple[str, str, str, bytes | None]  # kind, method, path, body
MALFORMED: list[tuple[str, str, bytes | None]] = [
    ("/v1/recommend", "POST", b'{"items": [1, 2'),
    ("/v1/recommend", "POST", b'{"items": [{"id": 1}]}'),
    ("/v1/recommend", "POST", b'{"items": [1], "k": 0}'),
    ("/v1/recommend", "POST", b'{"items": []}'),
    ("/v1/recommend", "POST", b"{}"),
    ("/v1/sessions/never-seen-session", "GET", None),
    ("/v1/recommend", "POST", b'{"items": [' + b"1," * 40_000 + b"1]}"),
    ("/v1/recommend", "POST", b'{"items": [1.5, true]}'),
]


def build_requests(sessions: list[list[int]], n: int, malformed: float, seed: int) -> list[Request]:
    """A seeded mix: malformed share as asked; of the rest, 3/4 stateless, 1/4 session clicks."""
    rng = np.random.default_rng(seed)
    out: list[Request] = []
    for index in range(n):
        draw = rng.random()
        if draw < malformed:
            path, method, body = MALFORMED[index % len(MALFORMED)]
            out.append(("malformed", method, path, body))
        elif draw < malformed + (1 - malformed) * 0.75:
            session = sessions[int(rng.integers(len(sessions)))]
            out.append(
                ("recommend", "POST", "/v1/recommend", json.dumps({"items": session, "k": 20}).encode())
            )
        else:
            item = int(rng.choice(sessions[int(rng.integers(len(sessions)))]))
            session_id = f"load-{seed}-{index // 5}"  # about five clicks per stored session
            body = json.dumps({"item": item, "k": 20}).encode()
            out.append(("event", "POST", f"/v1/sessions/{session_id}/events", body))
    return out


def encode(url: str, requests: list[Request]) -> list[Encoded]:
    """The requests as the bytes sent, built once before the timed loop."""
    host = urlsplit(url).netloc
    return [(kind, encode_request(host, method, path, body)) for kind, method, path, body in requests]


def load(url: str, requests: list[Encoded], concurrency: int, max_seconds: float) -> dict[str, Any]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return summarise(*run_async(run_load(parts.hostname, parts.port, requests, concurrency, max_seconds)))


def summarise(records: list[tuple[str, int, float]], wall: float) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float]:
        array = np.asarray(values) if values else np.zeros(1)
        return {f"p{q}_ms": round(float(np.percentile(array, q)), 2) for q in (50, 90, 99)}

    statuses = Counter(status for _, status, _ in records)
    valid = [ms for kind, status, ms in records if kind != "malformed"]
    return {
        "requests": len(records),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(records) / wall, 1),
        "latency_all": stats([ms for *_, ms in records]),
        "latency_valid": stats(valid),
        "status_counts": {str(code): count for code, count in sorted(statuses.items())},
        "server_errors_5xx": sum(count for code, count in statuses.items() if code >= 500),
        "transport_errors": statuses.get(TRANSPORT_ERROR, 0),
        "valid_not_200": sum(1 for kind, status, _ in records if kind != "malformed" and status != 200),
        "malformed_not_4xx": sum(
            1 for kind, status, _ in records if kind == "malformed" and not 400 <= status < 500
        ),
    }


def pin(pid: int, cores: set[int]) -> list[int]:
    """Pin every thread of process ``pid`` to ``cores`` (threads started later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), cores)
    return sorted(os.sched_getaffinity(pid))


def process_cpu(process: subprocess.Popen[bytes] | None) -> float | None:
    """CPU seconds (user + system) of the server process so far, from /proc (Linux)."""
    try:
        assert process is not None
        fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AssertionError, OSError, ValueError, IndexError):
        return None


def cpu_per_request(
    start: tuple[float, float | None], process: subprocess.Popen[bytes] | None, n: int
) -> dict[str, float | None]:
    """Where the CPU went: the load generator against the server, per request."""
    client = (time.process_time() - start[0]) * 1000 / n
    server_now = process_cpu(process)
    server = None if server_now is None or start[1] is None else (server_now - start[1]) * 1000 / n
    return {"load_generator": round(client, 3), "server": None if server is None else round(server, 3)}


def check_loopback(url: str) -> None:
    if urlsplit(url).hostname != "127.0.0.1":
        raise SystemExit(f"refusing to load-test {url}: only http://127.0.0.1:PORT is allowed")


def http_get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """Status and text of a GET (outside the timed loop: readiness, /metrics)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    run_dir: Path, port: int, torch_threads: int, options: tuple[str, ...] = ("--log-level", "warning")
) -> subprocess.Popen[bytes]:
    """``sessionrec serve`` in a child process, once its /ready answers 200 (within 120 s)."""
    command = [sys.executable, "-m", "sessionrec", "serve", str(run_dir), "--port", str(port)]
    command += ["--no-access-log", "--torch-threads", str(torch_threads), *options]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # not listening yet
            if http_get(f"http://127.0.0.1:{port}/ready", timeout=1)[0] == 200:
                return process
        if process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode}")
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not become ready within 120 s")


def server_stats(url: str) -> dict[str, float | None]:
    """From the server's /metrics: mean micro-batch size, and the share of /v1/recommend
    requests the server itself finished within 10 and 50 ms (client-side latency adds the
    load generator's own queueing on a shared CPU)."""
    text = http_get(f"{url}/metrics")[1]
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("sessionrec_batch_size_", "sessionrec_http_request_duration_seconds_")):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    batches = values.get("sessionrec_batch_size_count", 0.0)
    route = 'route="/v1/recommend"'
    total = values.get(f"sessionrec_http_request_duration_seconds_count{{{route}}}", 0.0)

    def share(bound: str) -> float | None:
        key = f'sessionrec_http_request_duration_seconds_bucket{{le="{bound}",{route}}}'
        return round(values[key] / total, 4) if total and key in values else None

    return {
        "mean_batch_size": round(values["sessionrec_batch_size_sum"] / batches, 2) if batches else None,
        "recommend_within_10ms": share("0.01"),
        "recommend_within_50ms": share("0.05"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=None, help="a running server on 127.0.0.1 (default: start one)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="srgnn")
    parser.add_argument("--run", type=Path, default=None, help="serve this trained run instead")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000, help="per repeat (upper bound)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per repeat (upper bound)")
    parser.add_argument("--malformed", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument(
        "--pin", action="store_true", help="server on core 0, load generator on core 1 (Linux)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load_test.json")
    args = parser.parse_args(argv)
    if args.pin and not (hasattr(os, "sched_setaffinity") and {0, 1} <= os.sched_getaffinity(0)):
        parser.error("--pin needs Linux and cores 0 and 1 available to this process")

    model, dataset, weights = build_model(args.data, args.model, args.run)
    sessions = test_sessions(dataset, 5000)
    process = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if url is None:
            run_dir = args.run or save_as_run(model, dataset, Path(tmp) / "run", weights)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            process = start_server(run_dir, port, args.torch_threads)
        check_loopback(url)
        del model  # the server holds its own copy
        try:
            pinning: dict[str, Any] = {"used": args.pin}
            if args.pin:  # server_cores None: a server started elsewhere (--url) is not pinned
                pinning["server_cores"] = pin(process.pid, {0}) if process is not None else None
                pinning["load_generator_cores"] = pin(os.getpid(), {1})
            warm_up = encode(url, build_requests(sessions, 300, args.malformed, seed=999))
            load(url, warm_up, args.concurrency, 30)
            repeats = []
            for repeat in range(args.repeats):
                requests = encode(url, build_requests(sessions, args.requests, args.malformed, seed=repeat))
                cpu = (time.process_time(), process_cpu(process))
                result = load(url, requests, args.concurrency, args.max_seconds)
                result["cpu_ms_per_request"] = cpu_per_request(cpu, process, result["requests"])
                result["load_average_1min"] = round(os.getloadavg()[0], 2)  # the machine may be shared
                repeats.append(result)
                print(json.dumps(result), file=sys.stderr)
            server = server_stats(url)
        finally:
            if process is not None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=30)
    report = {
        "benchmark": "HTTP load test on loopback",
        "model": args.model if args.run is None else f"run {args.run}",
        "weights": weights,
        "n_items": dataset.n_items,
        "concurrency": args.concurrency,
        "malformed_share": args.malformed,
        "requests_per_repeat": args.requests,
        "load_generator": "asyncio streams, one keep-alive connection per client, " + loop_name(),
        "pinning": pinning,
        "repeats": repeats,
        "median_of_repeats": {
            "requests_per_s": statistics.median(r["requests_per_s"] for r in repeats),
            "p50_ms": statistics.median(r["latency_all"]["p50_ms"] for r in repeats),
            "p99_ms": statistics.median(r["latency_all"]["p99_ms"] for r in repeats),
            "p99_valid_ms": statistics.median(r["latency_valid"]["p99_ms"] for r in repeats),
            "server_errors_5xx": max(r["server_errors_5xx"] for r in repeats),
            "cpu_ms_per_request": {
                side: _median_or_none([r["cpu_ms_per_request"][side] for r in repeats])
                for side in ("load_generator", "server")
            },
        },
        "server_side": server,
        "environment": {
            "cpu_count": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["median_of_repeats"], indent=2))
    return report


def _median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


if __name__ == "__main__":
    main()

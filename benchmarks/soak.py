"""Soak test of ``sessionrec serve`` on loopback: hostile traffic for minutes, latency and memory flat.

Starts ``sessionrec serve`` (SR-GNN over the Diginetica catalogue with seeded weights,
as ``load_test.py`` does, or ``--run``) on a free 127.0.0.1 port and drives it with
``--concurrency`` closed-loop clients (``loadgen.py``) for ``--minutes``, in windows of
``--window`` seconds. ``--bad`` (10%) of the requests are bad: half malformed (the
eight kinds of ``load_test.py``: a 4xx each), half hostile item ids (``"²"``,
``"--5"``, ``"٤٢٦٩"``, signs, padding) in stateless requests and in clicks on stored
sessions (a 200 each, the id reported unknown). The others are valid recommendations
and clicks (a 200 each). Stored sessions are drawn from a fixed pool of ids and capped
at 20 clicks (stateless requests send the last 20 at most), so the session store is
full within the first window and any later growth of the server's memory is a leak.
Per window: requests, p50/p99 latency, statuses, and the server's resident memory
(``/proc``); the report compares the first window with the last.

    .venv/bin/python benchmarks/soak.py --minutes 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import MALFORMED, encode, free_port, start_server
from loadgen import TRANSPORT_ERROR, loop_name, run_async, run_load
from serving_latency import DEFAULT_DATA, ROOT, build_model, save_as_run, test_sessions
from train_throughput import cpu_name

HOSTILE_IDS = ["²", "--5", "٤٢٦٩", "+12", " 12", "１２", "-", "12\n", "x" * 256]
# stored sessions drawn from a fixed pool, each capped at SESSION_CAP clicks: the store
# is full within the first window, so later growth of the server's memory is a leak
SESSION_POOL = 300
SESSION_CAP = 20
Request = tuple[str, str, str, bytes | None]  # kind, method, path, body


def build_requests(sessions: list[list[int]], n: int, bad: float, seed: int) -> list[Request]:
    """Seeded mix: ``bad`` split between malformed and hostile ids; the rest 3/4 stateless, 1/4 clicks."""
    rng = np.random.default_rng(seed)
    out: list[Request] = []
    for index in range(n):
        draw = rng.random()
        session = sessions[int(rng.integers(len(sessions)))]
        session_id = f"soak-{int(rng.integers(SESSION_POOL))}"
        if draw < bad / 2:
            path, method, body = MALFORMED[index % len(MALFORMED)]
            out.append(("malformed", method, path, body))
        elif draw < bad:
            hostile = HOSTILE_IDS[index % len(HOSTILE_IDS)]
            if index % 2:
                body = json.dumps({"items": [*session[1:], hostile], "k": 20}).encode()
                out.append(("hostile", "POST", "/v1/recommend", body))
            else:
                body = json.dumps({"item": hostile, "k": 20}).encode()
                out.append(("hostile", "POST", f"/v1/sessions/{session_id}/events", body))
        elif draw < bad + (1 - bad) * 0.75:
            body = json.dumps({"items": session, "k": 20}).encode()
            out.append(("recommend", "POST", "/v1/recommend", body))
        else:
            body = json.dumps({"item": int(rng.choice(session)), "k": 20}).encode()
            out.append(("event", "POST", f"/v1/sessions/{session_id}/events", body))
    return out


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def window_summary(records: list[tuple[str, int, float]], wall: float, pid: int) -> dict[str, Any]:
    statuses = Counter(status for _, status, _ in records)
    latencies = np.asarray([ms for *_, ms in records] or [0.0])
    wrong = Counter(
        kind
        for kind, status, _ in records
        if (kind == "malformed" and not 400 <= status < 500) or (kind != "malformed" and status != 200)
    )
    return {
        "requests": len(records),
        "requests_per_s": round(len(records) / wall, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "status_counts": {str(code): count for code, count in sorted(statuses.items())},
        "server_errors_5xx": sum(count for code, count in statuses.items() if code >= 500),
        "transport_errors": statuses.get(TRANSPORT_ERROR, 0),
        "unexpected_status_by_kind": dict(wrong),
        "server_rss_mb": rss_mb(pid),
    }


def soak(url: str, pid: int, sessions: list[list[int]], args: argparse.Namespace) -> list[dict[str, Any]]:
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    windows = []
    n_windows = max(1, round(args.minutes * 60 / args.window))
    for index in range(n_windows):
        # more requests than a window can send: the window's clock ends it
        requests = encode(url, build_requests(sessions, int(args.window * 5000), args.bad, seed=index))
        records, wall = run_async(run_load(host, port, requests, args.concurrency, args.window))
        summary = {"window": index, **window_summary(records, wall, pid)}
        summary["load_average_1min"] = round(os.getloadavg()[0], 2)
        windows.append(summary)
        print(json.dumps(summary), file=sys.stderr, flush=True)
    return windows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--run", type=Path, default=None, help="serve this trained run instead")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=20.0, help="seconds per measured window")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bad", type=float, default=0.1, help="share of bad requests")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args(argv)
    if not (0 < args.minutes <= 10 and 1 <= args.window <= 120 and 0 <= args.bad <= 1):
        parser.error("--minutes in (0, 10], --window in [1, 120] seconds, --bad in [0, 1]")

    model, dataset, weights = build_model(args.data, "srgnn", args.run)
    sessions = [session[-SESSION_CAP:] for session in test_sessions(dataset, 5000)]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run or save_as_run(model, dataset, Path(tmp) / "run", weights)
        del model  # the server holds its own copy
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        options = ("--host", "127.0.0.1", "--log-level", "error", "--max-session-length", str(SESSION_CAP))
        process = start_server(run_dir, port, args.torch_threads, options)
        try:
            rss_ready = rss_mb(process.pid)
            windows = soak(url, process.pid, sessions, args)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    first, last = windows[0], windows[-1]
    report = {
        "benchmark": "soak: hostile traffic on loopback",
        "command": "benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "model": "srgnn" if args.run is None else f"run {args.run}",
        "weights": weights,
        "n_items": dataset.n_items,
        "concurrency": args.concurrency,
        "bad_share": args.bad,
        "window_seconds": args.window,
        "load_generator": "asyncio streams, one keep-alive connection per client, " + loop_name(),
        "windows": windows,
        "summary": {
            "requests": sum(w["requests"] for w in windows),
            "server_errors_5xx": sum(w["server_errors_5xx"] for w in windows),
            "transport_errors": sum(w["transport_errors"] for w in windows),
            "unexpected_statuses": sum(sum(w["unexpected_status_by_kind"].values()) for w in windows),
            "p99_ms_first_window": first["p99_ms"],
            "p99_ms_last_window": last["p99_ms"],
            "p99_ms_max_window": max(w["p99_ms"] for w in windows),
            "server_rss_mb_ready": rss_ready,
            "server_rss_mb_after_first_window": first["server_rss_mb"],
            "server_rss_mb_end": last["server_rss_mb"],
        },
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report["summary"], indent=2))
    return report


if __name__ == "__main__":
    main()

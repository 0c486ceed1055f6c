"""Peak memory of each preprocessing step: which step of the protocol holds the most.

    python benchmarks/preprocess_memory.py                     # the real Yoochoose size, 1/64
    python benchmarks/preprocess_memory.py --clicks 4000000 --sessions 1120000 --source diginetica

Writes a seeded raw file into a temporary directory (``sessionrec.data.synthetic_raw``),
then runs ``sessionrec.data.readers.preprocess`` in this process. Every progress step
the reader reports (``on_step``) starts a phase; at each phase boundary the process's
high-water mark (``VmHWM`` in ``/proc/self/status``) is read and then reset to the
current RSS (``echo 5 > /proc/self/clear_refs``, Linux), so each phase's figure is the
peak RSS reached while it ran. Prints one line per phase (seconds, RSS at its start,
its peak) and writes them to ``--out`` as JSON when given.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from preprocess_scale import raw_log_parser
from sessionrec.data.readers import preprocess
from sessionrec.data.synthetic_raw import write_diginetica_views, write_yoochoose_clicks
from train_throughput import cpu_name

GIB = 2**30


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


class PhaseTracker:
    """Peak RSS per phase, phases delimited by ``mark(name)``."""

    def __init__(self) -> None:
        self.phases: list[dict[str, object]] = []
        self._name: str | None = None
        self._start = 0.0
        self._rss_start = 0

    def _reset_peak(self) -> None:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")

    def mark(self, name: str | None) -> None:
        now = time.perf_counter()
        if self._name is not None:
            self.phases.append(
                {
                    "phase": self._name,
                    "seconds": round(now - self._start, 2),
                    "rss_start_gib": round(self._rss_start * 1024 / GIB, 2),
                    "peak_rss_gib": round(_status_kib("VmHWM") * 1024 / GIB, 2),
                }
            )
            print(self.phases[-1], flush=True)
        self._reset_peak()
        self._name, self._start, self._rss_start = name, time.perf_counter(), _status_kib("VmRSS")


def main() -> None:
    parser = raw_log_parser(__doc__)
    parser.add_argument("--source", choices=("yoochoose", "diginetica"), default="yoochoose")
    parser.add_argument("--fraction", type=int, default=64)
    parser.add_argument("--raw", type=Path, help="an existing raw file instead of a generated one")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    size = {"n_clicks": args.clicks, "n_sessions": args.sessions, "n_items": args.items}
    options = {"fraction": args.fraction} if args.source == "yoochoose" else {}
    with tempfile.TemporaryDirectory(prefix="sessionrec-memory-") as tmp:
        raw = args.raw
        if raw is None:
            write = write_yoochoose_clicks if args.source == "yoochoose" else write_diginetica_views
            raw = write(Path(tmp) / f"{args.source}.raw", **size)
        tracker = PhaseTracker()
        started = time.perf_counter()
        tracker.mark("start")
        preprocess(args.source, raw, Path(tmp) / "out", on_step=tracker.mark, **options)
        tracker.mark(None)
        wall = time.perf_counter() - started
    result = {
        "source": args.source,
        "options": options,
        "size": size if args.raw is None else str(args.raw),
        "wall_seconds": round(wall, 1),
        "peak_rss_gib": max(float(p["peak_rss_gib"]) for p in tracker.phases),  # type: ignore[arg-type]
        "phases": tracker.phases,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

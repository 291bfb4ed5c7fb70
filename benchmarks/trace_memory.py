"""Is the server's memory growth a leak? tracemalloc across many requests (not a test).

Serves the real engine with uvicorn in this process (a thread), drives it with client
threads (search + embeddings, like ``bench_soak.py``), and compares Python's traced
allocations after warm-up with those at the end, beside the process RSS. If traced
memory stays flat while RSS grows, the growth is native: the allocator keeping freed
memory in per-thread arenas (fragmentation), not Python objects piling up.

    .venv/bin/python benchmarks/trace_memory.py --requests 10000 --clients 8
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_soak import QUESTIONS, TEXTS  # noqa: E402


def rss_mib() -> float:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1_000, help="requests before the first snapshot")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--frames", type=int, default=1, help="traceback depth kept by tracemalloc (default 1)")
    parser.add_argument("--index-dir", type=Path, default=None, help="an index built from seeds/ (default: build one)")
    args = parser.parse_args(argv)

    import uvicorn

    from retriever.api import create_app
    from retriever.search import open_searcher

    with tempfile.TemporaryDirectory(prefix="trace-") as tmp:
        searcher = open_searcher(args.index_dir or Path(tmp) / "index", seeds_dir=ROOT / "seeds",
                                 build_if_missing=True)
        searcher.warm_up()
        app = create_app(searcher, mount_ui=False)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        model_id = searcher.embedder.model_id
        tracemalloc.start(args.frames)
        counter = iter(range(10**9))
        done = 0
        lock = threading.Lock()
        errors = 0
        marks: dict[str, tuple[tracemalloc.Snapshot, float, float]] = {}
        checkpoints = sorted({args.warmup, args.requests // 2, args.requests})

        def client(worker: int) -> None:
            nonlocal done, errors
            with httpx.Client(base_url=url, timeout=120) as http:
                while True:
                    with lock:
                        i = next(counter)
                    if i >= args.requests:
                        return
                    if i % 4 == 0:
                        response = http.post("/v1/embeddings", json={
                            "input": [TEXTS[(i + j) % len(TEXTS)] for j in range(4)], "model": model_id,
                            "input_type": "passage"})
                    else:
                        response = http.post("/v1/search", json={"query": QUESTIONS[i % len(QUESTIONS)]})
                    with lock:
                        done += 1
                        errors += response.status_code != 200
                        if done in checkpoints:
                            traced, _ = tracemalloc.get_traced_memory()
                            marks[str(done)] = (tracemalloc.take_snapshot(), traced / 2**20, rss_mib())
                            print(f"{done:6d} requests: traced {traced / 2**20:7.1f} MiB, RSS {rss_mib():7.1f} MiB",
                                  flush=True)

        threads = [threading.Thread(target=client, args=(w,)) for w in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        server.should_exit = True
    first, last = marks[str(checkpoints[0])], marks[str(checkpoints[-1])]
    print(f"\nerrors: {errors}")
    print(f"traced Python memory: {first[1]:.1f} → {last[1]:.1f} MiB; RSS: {first[2]:.1f} → {last[2]:.1f} MiB "
          f"(requests {checkpoints[0]} → {checkpoints[-1]})")
    print(f"\ntop {args.top} growth by line:")
    for stat in last[0].compare_to(first[0], "lineno")[: args.top]:
        print(f"  {stat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

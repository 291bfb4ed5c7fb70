"""Soak benchmark for duty-retriever (not a test): many clients for minutes, memory watched.

Starts the real server on loopback (``python app.py --port 0``, building the index
if missing) and drives it with N client threads (one ``httpx.Client`` each) sending a
mix of ``POST /v1/search`` (3 in 4) and ``POST /v1/embeddings`` (1 in 4, 4 texts) for
a fixed time. Every ``--sample`` seconds it reads the server's resident memory
(``VmRSS`` from ``/proc``). Reports requests/s, latency p50/p95/p99, errors by status
and the RSS curve (first, after warm-up, last, and the spread after warm-up), as
Markdown, optionally JSON, and a PNG of RSS over time.

``--allocator`` chooses how the server's memory allocator is set: ``default`` (the
server's own setting, which caps glibc's malloc arenas), ``glibc`` (glibc untouched:
``RETRIEVER_MALLOC_ARENAS=0``), or ``both`` (one run each, one PNG with both curves).

    .venv/bin/python benchmarks/bench_soak.py                            # 32 clients, 180 s
    .venv/bin/python benchmarks/bench_soak.py --allocator both --seconds 180 --png docs/soak-rss.png
    .venv/bin/python benchmarks/bench_soak.py --clients 8 --seconds 60 --json reports/soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from retriever.bench import percentile

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS: tuple[str, ...] = (
    "网吧的安全检查归哪个部门？",
    "光伏电站安全由谁负责？",
    "电动车充电归哪个部门管？",
    "人社厅有哪些安全生产职责？",
    "第三十三条第五项",
    "燃气管道的安全监管由谁负责",
    "学校食堂的消防安全归谁管",
    "旅行社组织自驾游的安全",
    "危险化学品运输车辆的监管",
    "水库大坝安全",
    "今天天气怎么样",
    "特种设备安全监察",
)
TEXTS: tuple[str, ...] = (
    "负责全区旅游行业安全监管工作",
    "加强电动自行车充电设施安全管理",
    "指导督促网吧等娱乐场所落实安全生产主体责任",
    "依法对本区域安全生产工作实施综合监督管理",
    "督促指导煤矿企业落实安全生产主体责任，依法查处违法违规行为。",
)


ALLOCATOR_LABELS = {"default": "server default (2 malloc arenas)", "glibc": "glibc untouched (8 × cores arenas)"}


@dataclass
class SoakResult:
    """One soak run."""

    allocator: str
    clients: int
    seconds: float
    requests: int
    errors: int
    error_statuses: dict[str, int]
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rss_mib: list[tuple[float, float]] = field(default_factory=list)
    rss_first_mib: float = 0.0
    rss_warm_mib: float = 0.0
    rss_last_mib: float = 0.0
    rss_spread_after_warmup_pct: float = 0.0


def _rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def _start_server(index_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, str(ROOT / "app.py"), "--port", "0", "--index-dir", str(index_dir),
               "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 900
    for line in process.stdout:
        match = re.search(r"at (http://\S+?)/ ", line)
        if match:
            threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
            return process, match.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the server did not start (see its output above)")


def run_soak(*, allocator: str, clients: int, seconds: float, sample: float, warmup: float,
             index_dir: Path) -> SoakResult:
    """Start a server, load it for ``seconds``, stop it; what it measured."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RETRIEVER_RATE_LIMIT": "0",
           "RETRIEVER_API_KEY": "", "PYTHONPATH": str(ROOT / "src")}
    if allocator == "glibc":
        env["RETRIEVER_MALLOC_ARENAS"] = "0"
    process, url = _start_server(index_dir, env)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    model_id = httpx.get(f"{url}/v1/models", timeout=30).json()["data"][0]["id"]

    def client(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            i = 0
            while not stop.is_set():
                i += 1
                started = time.perf_counter()
                try:
                    if (worker + i) % 4 == 0:
                        texts = [TEXTS[(worker + i + j) % len(TEXTS)] * (1 + (i + j) % 3) for j in range(4)]
                        response = http.post("/v1/embeddings", json={"input": texts, "model": model_id,
                                                                      "input_type": "passage"})
                    else:
                        response = http.post("/v1/search", json={"query": QUESTIONS[(worker * 7 + i) % len(QUESTIONS)]})
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    if status == "200":
                        latencies.append(elapsed)
                    else:
                        statuses[status] += 1

    rss: list[tuple[float, float]] = []
    began = time.monotonic()
    rss.append((0.0, _rss_mib(process.pid)))
    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(clients)]
    for thread in threads:
        thread.start()
    try:
        while (now := time.monotonic() - began) < seconds:
            time.sleep(min(sample, seconds - now))
            rss.append((round(time.monotonic() - began, 1), _rss_mib(process.pid)))
            print(f"  [{allocator}] {rss[-1][0]:6.0f} s  RSS {rss[-1][1]:7.1f} MiB  {len(latencies)} ok",
                  file=sys.stderr, flush=True)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        elapsed = time.monotonic() - began
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    warm = [value for t, value in rss if t >= warmup] or [rss[-1][1]]
    ms = [x * 1000 for x in latencies]
    return SoakResult(
        allocator=allocator, clients=clients, seconds=round(elapsed, 1),
        requests=len(latencies) + sum(statuses.values()), errors=sum(statuses.values()),
        error_statuses=dict(statuses), requests_per_s=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(ms, 0.50), 1), p95_ms=round(percentile(ms, 0.95), 1),
        p99_ms=round(percentile(ms, 0.99), 1), rss_mib=rss, rss_first_mib=round(rss[0][1], 1),
        rss_warm_mib=round(warm[0], 1), rss_last_mib=round(rss[-1][1], 1),
        rss_spread_after_warmup_pct=round(100 * (max(warm) - min(warm)) / min(warm), 1),
    )


def plot(results: list[SoakResult], path: Path, warmup: float) -> None:
    """RSS over time, one line per run, the warm-up shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.2), dpi=110)
    for result in results:
        times = [t for t, _ in result.rss_mib]
        values = [v for _, v in result.rss_mib]
        name = ALLOCATOR_LABELS.get(result.allocator, result.allocator)
        label = (f"{name}: {result.requests_per_s} req/s, p99 {result.p99_ms:.0f} ms, "
                 f"{result.errors} errors, ±{result.rss_spread_after_warmup_pct / 2:.1f} % after warm-up")
        axes.plot(times, values, marker="o", markersize=3, label=label)
    axes.axvspan(0, warmup, color="0.9", label="warm-up")
    axes.set_xlabel("seconds under load")
    axes.set_ylabel("server RSS (MiB)")
    axes.set_ylim(bottom=0)
    clients = results[0].clients if results else 0
    axes.set_title(f"duty-retriever soak: {clients} clients, search + embeddings")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def markdown(results: list[SoakResult]) -> str:
    rows = ["| allocator | clients | s | requests | req/s | p50 ms | p95 ms | p99 ms | errors | RSS start → warm → end "
            "(MiB) | spread after warm-up |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.allocator} | {r.clients} | {r.seconds:.0f} | {r.requests} | {r.requests_per_s} | "
                    f"{r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.p99_ms:.0f} | {r.errors} {r.error_statuses or ''} | "
                    f"{r.rss_first_mib:.0f} → {r.rss_warm_mib:.0f} → {r.rss_last_mib:.0f} | "
                    f"{r.rss_spread_after_warmup_pct} % |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=180.0, help="load duration per run (default 180)")
    parser.add_argument("--sample", type=float, default=10.0, help="RSS sampling interval (default 10 s)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds excluded from the spread (default 60)")
    parser.add_argument("--allocator", choices=["default", "glibc", "both"], default="default")
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="index folder (default: a fresh one in a temporary folder)")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "soak-rss.png")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--replot", type=Path, default=None, help="only redraw the PNG from a --json file")
    args = parser.parse_args(argv)
    if args.replot:
        saved = [SoakResult(**{**r, "rss_mib": [tuple(x) for x in r["rss_mib"]]})
                 for r in json.loads(args.replot.read_text(encoding="utf-8"))]
        print(markdown(saved))
        plot(saved, args.png, args.warmup)
        return 0
    allocators = ["glibc", "default"] if args.allocator == "both" else [args.allocator]
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        results = [run_soak(allocator=a, clients=args.clients, seconds=args.seconds, sample=args.sample,
                            warmup=args.warmup, index_dir=index_dir) for a in allocators]
    print(markdown(results))
    plot(results, args.png, args.warmup)
    print(f"RSS curve: {args.png}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2), encoding="utf-8")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

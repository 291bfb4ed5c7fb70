"""HTTP load benchmark for duty-retriever (not a test).

Starts the real server on loopback (``python app.py --port 0``, building the
index if missing) unless ``--url`` points at a running one, then drives
``POST /v1/search`` and ``POST /v1/embeddings`` in turn with N concurrent
clients (threads, one ``httpx.Client`` each) for a bounded number of requests
and a bounded time. Reports latency p50/p95/max, throughput and error count as a
Markdown table, and optionally as JSON.

    .venv/bin/python benchmarks/bench_http.py                       # 1 and 16 clients, 320 requests each
    .venv/bin/python benchmarks/bench_http.py --no-cache            # every search computed (cache off)
    .venv/bin/python benchmarks/bench_http.py --clients 8 --requests 200 --json reports/http.json
    .venv/bin/python benchmarks/bench_http.py --url http://127.0.0.1:7860 --api-key KEY

Embeddings requests carry ``--batch`` passages (32 by default); their rate is
reported as requests/s and passages/s. For a server it started, the benchmark also
reports the server's CPU time per request (from ``/proc``, Linux): on a shared machine
that figure moves much less with other jobs' load than latency and throughput do.
``--endpoints search`` drives only one endpoint. The started server caches repeated
questions unless ``--no-cache`` (``RETRIEVER_CACHE_SIZE=0``); with the cache on,
the 12 sample questions are answered from memory after their first time.

Only loopback addresses are accepted for ``--url``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from retriever.bench import percentile

ROOT = Path(__file__).resolve().parent.parent

#: Questions for /v1/search: a mix of routes (search, department, citation, out of scope).
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

#: Texts for /v1/embeddings (4 per request).
TEXTS: tuple[str, ...] = (
    "负责全区旅游行业安全监管工作",
    "加强电动自行车充电设施安全管理",
    "指导督促网吧等娱乐场所落实安全生产主体责任",
    "依法对本区域安全生产工作实施综合监督管理",
)


@dataclass
class EndpointResult:
    """What one endpoint's run measured."""

    endpoint: str
    clients: int
    requests: int
    texts_per_request: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    throughput_rps: float
    statuses: dict[str, int] = field(default_factory=dict)
    #: CPU seconds the server process spent per request (ms), when the benchmark started it.
    server_cpu_ms: float | None = None
    client_cpu_ms: float | None = None


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``), None elsewhere or if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_endpoint(
    base_url: str,
    endpoint: str,
    make_body: Callable[[int], dict[str, Any]],
    *,
    clients: int,
    requests: int,
    max_seconds: float,
    headers: dict[str, str],
    texts_per_request: int = 1,
    server_pid: int | None = None,
) -> EndpointResult:
    """``requests`` POSTs to ``endpoint`` from ``clients`` threads, stopping early after ``max_seconds``.

    With ``server_pid``, also the server's CPU time per request over the run.
    """
    lock = threading.Lock()
    next_index = 0
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    deadline = time.monotonic() + max_seconds

    def take() -> int | None:
        nonlocal next_index
        with lock:
            if next_index >= requests or time.monotonic() > deadline:
                return None
            next_index += 1
            return next_index - 1

    parsed = urlparse(base_url)
    sent_headers = {"Content-Type": "application/json", **headers}

    def worker() -> None:
        # The standard library's HTTP/1.1 client with keep-alive: on 2 shared cores the load
        # generator's own CPU counts, and httpx spent about 6 ms of it a request.
        nonlocal errors
        connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=60)
        try:
            while (index := take()) is not None:
                body = json.dumps(make_body(index), ensure_ascii=False).encode()
                started = time.perf_counter()
                try:
                    connection.request("POST", endpoint, body=body, headers=sent_headers)
                    response = connection.getresponse()
                    response.read()
                    status = str(response.status)
                    ok = response.status == 200
                except (OSError, http.client.HTTPException) as exc:
                    status, ok = type(exc).__name__, False
                    connection.close()
                    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80,
                                                            timeout=60)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    if not ok:
                        errors += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    cpu_before = process_cpu_seconds(server_pid) if server_pid else None
    client_before = time.process_time()
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall
    client_cpu = time.process_time() - client_before
    cpu_after = process_cpu_seconds(server_pid) if server_pid else None
    ordered = sorted(latencies)
    server_cpu_ms = (round(1000 * (cpu_after - cpu_before) / len(ordered), 2)
                     if cpu_before is not None and cpu_after is not None and ordered else None)
    return EndpointResult(
        endpoint=endpoint,
        clients=clients,
        requests=len(ordered),
        texts_per_request=texts_per_request,
        errors=errors,
        seconds=round(wall, 3),
        p50_ms=round(1000 * statistics.median(ordered), 1) if ordered else float("nan"),
        p95_ms=round(1000 * percentile(ordered, 0.95), 1),
        max_ms=round(1000 * ordered[-1], 1) if ordered else float("nan"),
        throughput_rps=round(len(ordered) / wall, 2) if wall > 0 else 0.0,
        statuses=statuses,
        server_cpu_ms=server_cpu_ms,
        client_cpu_ms=round(1000 * client_cpu / len(ordered), 2) if ordered else None,
    )


@dataclass(frozen=True)
class Server:
    """A server to benchmark: its base URL, and its process id when this benchmark started it."""

    url: str
    pid: int | None = None


@contextmanager
def local_server(index_dir: Path | None, seeds_dir: Path | None, startup_timeout: float,
                 cache: bool = True, threads: int | None = None) -> Iterator[Server]:
    """``python app.py --port 0`` on 127.0.0.1; yields it and stops it afterwards."""
    log = Path(tempfile.mkstemp(prefix="bench-http-", suffix=".log")[1])
    command = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"]
    if index_dir is not None:
        command += ["--index-dir", str(index_dir)]
    if seeds_dir is not None:
        command += ["--seeds-dir", str(seeds_dir)]
    if threads is not None:
        command += ["--threads", str(threads)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("RETRIEVER_API_KEY", None)
    if not cache:
        env["RETRIEVER_CACHE_SIZE"] = "0"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        started = time.monotonic()
        deadline = started + startup_timeout
        url = None
        while url is None:
            match = re.search(r"http://127\.0\.0\.1:\d+", log.read_text(errors="replace"))
            if match:
                url = match.group(0)
            elif process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}")
            else:
                time.sleep(0.2)
        print(f"server serving {time.monotonic() - started:.1f} s after start (including any index build)",
              file=sys.stderr, flush=True)
        yield Server(url, process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.unlink(missing_ok=True)


def markdown_table(results: list[EndpointResult]) -> str:
    """The results as a small Markdown table."""
    lines = [
        "| endpoint | clients | requests | errors | p50 ms | p95 ms | max ms | req/s | texts/s | server CPU ms/req "
        "| client CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cpu = "" if r.server_cpu_ms is None else f"{r.server_cpu_ms:.2f}"
        lines.append(
            f"| `POST {r.endpoint}` | {r.clients} | {r.requests} | {r.errors} | {r.p50_ms:.1f} | "
            f"{r.p95_ms:.1f} | {r.max_ms:.1f} | {r.throughput_rps:.1f} | "
            f"{r.throughput_rps * r.texts_per_request:.1f} | {cpu} | "
            f"{'' if r.client_cpu_ms is None else f'{r.client_cpu_ms:.2f}'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 if any request failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="benchmark a running server (loopback only) instead of starting one")
    parser.add_argument("--api-key", default=os.environ.get("RETRIEVER_API_KEY"), help="bearer token for --url")
    parser.add_argument("--clients", default="1,16", help="concurrent clients, comma-separated runs (default 1,16)")
    parser.add_argument("--batch", type=int, default=32, help="passages per /v1/embeddings request (default 32)")
    parser.add_argument("--no-cache", action="store_true", help="start the server with its query cache off")
    parser.add_argument("--endpoints", default="search,embeddings",
                        help="which endpoints to drive, comma-separated (default search,embeddings)")
    parser.add_argument("--threads", type=int, default=None,
                        help="model threads for the started server (app.py --threads; default: its own)")
    parser.add_argument("--requests", type=int, default=320, help="requests per endpoint (default 320)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap per endpoint (default 60)")
    parser.add_argument("--k", type=int, default=10, help="k for /v1/search (default 10)")
    parser.add_argument("--index-dir", type=Path, default=None, help="index folder for the started server")
    parser.add_argument("--seeds-dir", type=Path, default=None, help="seeds folder for the started server")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for the server")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    try:
        client_counts = [int(c) for c in str(args.clients).split(",") if c.strip()]
    except ValueError:
        parser.error("--clients takes whole numbers separated by commas, e.g. 1,16")
    endpoints = [e.strip() for e in str(args.endpoints).split(",") if e.strip()]
    if not endpoints or set(endpoints) - {"search", "embeddings"}:
        parser.error("--endpoints takes search, embeddings or both, e.g. search,embeddings")
    if not client_counts or min(client_counts) < 1 or args.requests < 1 or args.max_seconds <= 0 or args.batch < 1:
        parser.error("--clients, --requests, --batch and --max-seconds must be positive")

    @contextmanager
    def target() -> Iterator[Server]:
        if args.url:
            host = urlparse(args.url).hostname or ""
            if not (host == "localhost" or host.startswith("127.") or host == "::1"):
                parser.error("--url must be a loopback address (127.0.0.0/8, localhost, ::1)")
            yield Server(args.url.rstrip("/"))
        else:
            with local_server(args.index_dir, args.seeds_dir, args.startup_timeout, cache=not args.no_cache,
                              threads=args.threads) as server:
                yield server

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.url and args.api_key else {}
    load_before = os.getloadavg()[0]
    with target() as server:
        url = server.url
        health = httpx.get(f"{url}/healthz", timeout=30).json()
        model = health["model"]["id"]
        search_body: Callable[[int], dict[str, Any]] = lambda i: {"query": QUESTIONS[i % len(QUESTIONS)], "k": args.k}  # noqa: E731
        embed_body: Callable[[int], dict[str, Any]] = lambda i: {  # noqa: E731
            "model": model, "input": [f"{TEXTS[j % len(TEXTS)]}（{i}.{j}）" for j in range(args.batch)],
            "input_type": "passage"}
        with httpx.Client(base_url=url, headers=headers, timeout=60.0) as warm:  # warm caches and threads
            for i in range(len(QUESTIONS)):
                warm.post("/v1/search", json=search_body(i)).raise_for_status()
            warm.post("/v1/embeddings", json=embed_body(0)).raise_for_status()
        results = [
            run_endpoint(url, endpoint, body, clients=clients, requests=args.requests,
                         max_seconds=args.max_seconds, headers=headers, texts_per_request=texts,
                         server_pid=server.pid)
            for endpoint, body, texts in (("/v1/search", search_body, 1), ("/v1/embeddings", embed_body, args.batch))
            if endpoint.removeprefix("/v1/") in endpoints
            for clients in client_counts
        ]

    print(markdown_table(results))
    cache_note = "off" if args.no_cache else ("on" if not args.url else "as configured")
    print(f"\nmodel {model}; {health['clauses']} clauses; search k={args.k}, query cache {cache_note}; "
          f"embeddings {args.batch} passages/request; load average {load_before:.1f} → {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} CPUs; Python {platform.python_version()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"model": model, "clauses": health["clauses"], "cpus": os.cpu_count(), "k": args.k,
                   "cache": cache_note, "batch": args.batch, "threads": args.threads,
                   "load_average": [load_before, os.getloadavg()[0]],
                   "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

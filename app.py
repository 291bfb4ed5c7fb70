"""Start duty-retriever's web server: the Gradio UI at ``/`` and the REST API under ``/v1``.

    python app.py                      # http://127.0.0.1:7860/ (builds index/ if missing)
    python app.py --host 0.0.0.0 --port 8080
    RETRIEVER_PORT=0 python app.py     # any free port; the URL is printed
    python app.py --threads 2          # two model threads (default 1, best under concurrent load)

Host and port default to ``RETRIEVER_HOST`` / ``RETRIEVER_PORT`` (then
127.0.0.1:7860). If ``RETRIEVER_API_KEY`` is set, ``/v1`` requires
``Authorization: Bearer <key>``. A thin shim over :func:`retriever.api.serve`,
the same server as ``retriever serve``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from retriever.errors import RetrieverError
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
    from retriever.errors import RetrieverError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (every option defaults to the environment, then the built-in default)."""
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="Serve the duty-retriever UI (/) and HTTP API (/v1, docs at /docs).",
    )
    parser.add_argument("--host", default=None, help="bind address (env RETRIEVER_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port, 0 for any free one (env RETRIEVER_PORT; default 7860)")
    parser.add_argument("--index-dir", type=Path, default=None, help="index folder (default index/)")
    parser.add_argument("--seeds-dir", type=Path, default=None, help="regulation files (default seeds/)")
    parser.add_argument("--model", default=None, help="embedding model (default: built-in multilingual-e5-small)")
    parser.add_argument("--threads", type=int, default=None,
                        help="model (onnxruntime) threads (env RETRIEVER_THREADS; default 1: the server batches "
                             "concurrent queries, and one thread leaves the other core to the requests)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="server log level (default info)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; 1 on a user-facing error, 2 on a bad setting."""
    args = parse_args(argv)
    from retriever.api import serve

    try:
        serve(host=args.host, port=args.port, index_dir=args.index_dir, seeds_dir=args.seeds_dir,
              model=args.model, log_level=args.log_level, threads=args.threads)
    except RetrieverError as error:
        print(f"error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot listen: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

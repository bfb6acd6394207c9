"""Serve one emulator in this process: `python -m emulators.serve SYSTEM [--scale ...]`.

The sandbox starts one such process per system (each generates its own view of the shared world in parallel and
has its own interpreter), then reads the ready file each writes once its port is listening.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import uvicorn

from emulators.core.backend import build_app
from emulators.core.server import bind_loopback, uvicorn_config
from emulators.registry import SYSTEMS, create_backend
from emulators.world import World


def parse_counts(pairs: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        kind, _, value = pair.partition("=")
        if not value.isdigit():
            raise SystemExit(f"--count expects KIND=N (e.g. tasks=1000000), got {pair!r}")
        counts[kind] = int(value)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.serve", description=__doc__)
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--port", type=int, default=0, help="loopback port (0: any free port)")
    parser.add_argument("--scale", default="demo", help="demo, none or records per primary kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", action="append", default=[], metavar="KIND=N", help="override one kind's count")
    parser.add_argument("--cert-file", type=Path)
    parser.add_argument("--key-file", type=Path)
    parser.add_argument("--ca-bundle", help="CA bundle clients should use (written into the env exports)")
    parser.add_argument("--snapshot", type=Path, help="load this snapshot instead of generating data")
    parser.add_argument("--ready-file", type=Path, help="write {origin, env, counts} here once listening")
    args = parser.parse_args(argv)

    backend = create_backend(args.system)
    started = time.monotonic()
    if args.snapshot:
        backend.load_snapshot(args.snapshot)
        counts = {name: len(backend.list_records(name)) for name in backend.objects}
    else:
        scale = args.scale if args.scale in ("demo", "none") else int(args.scale)
        counts = backend.generate(World(seed=args.seed, scale=scale, overrides=parse_counts(args.count)))
    tls = backend.requires_tls
    if tls and not (args.cert_file and args.key_file):
        raise SystemExit(f"{args.system} is served over HTTPS: pass --cert-file and --key-file")
    sock = bind_loopback(args.port)
    origin = f"{'https' if tls else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
    ready = {
        "system": args.system,
        "origin": origin,
        "pid": os.getpid(),
        "env": backend.env_exports(origin, args.ca_bundle if tls else None),
        "counts": counts,
        "seed_seconds": round(time.monotonic() - started, 2),
    }
    config = uvicorn_config(build_app(backend), args.cert_file if tls else None, args.key_file if tls else None)
    server = uvicorn.Server(config)
    if args.ready_file:
        tmp = args.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(ready))
        tmp.replace(args.ready_file)
    else:
        print(json.dumps(ready), flush=True)
    server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()

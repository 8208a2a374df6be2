"""One CLI for both emulators: `python -m sandbox cliniko|pipedrive [options]`.

Prints one line `READY <name> <url>` on stdout when listening, then serves until
interrupted (SIGINT/SIGTERM). `python -m sandbox cliniko change ...` edits a running
Cliniko sandbox's data instead (see `python -m sandbox cliniko change --help`).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from sandbox.common.http import SandboxServer

EMULATORS = {"cliniko": "sandbox.cliniko.cli", "pipedrive": "sandbox.pipedrive.cli"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="emulator", required=True)
    for name, module_name in EMULATORS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.__doc__.splitlines()[0] if module.__doc__ else name)
        p.add_argument("--host", default="127.0.0.1", help="bind address (loopback only by default)")
        p.add_argument("--port", type=int, default=0, help="0 picks a free port")
        module.add_arguments(p)
        if hasattr(module, "add_commands"):
            module.add_commands(p)
        p.set_defaults(create_app=module.create_app)
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is not None:
        return int(args.run(args))
    try:
        app = args.create_app(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = SandboxServer(app, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"READY {args.emulator} {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

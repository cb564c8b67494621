"""python -m console [--host H] [--port P]: serve the experiment console (make console)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from console.config import load_console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console", description=__doc__.split(":")[1].strip())
    parser.add_argument("--host", help="address to listen on (conf/console.yaml: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (conf/console.yaml: 8050)")
    args = parser.parse_args(argv)
    from console.app import create_app
    from experiment.planner import PlanError
    from job.config import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_console(overrides={"host": args.host, "port": args.port})
        app = create_app(cfg)
    except (ConfigError, PlanError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not cfg.loopback:
        print(
            f"warning: listening on {cfg.host}, not loopback: anyone who reaches this address can create "
            "experiments and read their tokens at creation. Use 127.0.0.1 unless you mean it.",
            file=sys.stderr,
        )
    from waitress import serve

    # SIGTERM (a service manager, `kill`) ends like Ctrl-C: the running experiment is
    # stopped and marked interrupted, its recorded sessions kept.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"experiment console at http://{cfg.host}:{cfg.port}/ (database {cfg.database}); Ctrl-C stops it", flush=True)
    try:
        serve(app, host=cfg.host, port=cfg.port, threads=8, ident="silocompro-console")
    finally:
        for experiment in app.config["store"].all():
            app.config["runner"].stop(experiment.id, wait=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

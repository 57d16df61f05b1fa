"""CLI: python -m hotline {serve|worker|migrate|stack|routes|create-user}."""

from __future__ import annotations

import argparse
import asyncio
import sys

from hotline import logs
from hotline.settings import Settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["create-user"]:  # its own parser: the password is never taken from argv
        from console.cli import main as create_user

        return create_user(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m hotline")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the services app")
    sub.add_parser("worker", help="run the background worker")
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    sub.add_parser("stack", help="start every process (make run)")
    sub.add_parser("routes", help="print every route and who may call it (the route/role matrix)")
    sub.add_parser("create-user", help="create a staff console account (see --help after it)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_level, settings.log_json and args.command != "stack")
    problems = settings.production_problems() if args.command in ("serve", "worker", "stack") else []
    if problems:
        print("HOTLINE_ENV=production, and these settings are not safe for it:\n  "
              + "\n  ".join(problems), file=sys.stderr)
        return 2

    if args.command == "serve":
        from hotline.app import create_app

        app = create_app(settings)
        app.run(host=settings.host, port=settings.port, single_process=True, access_log=False,
                motd=False)
    elif args.command == "worker":
        from hotline.worker import run_forever

        asyncio.run(run_forever(settings))
    elif args.command == "routes":
        from hotline.app import create_app
        from hotline.auth import route_matrix

        for row in route_matrix(create_app(settings)):
            access = row["access"].describe() if row["access"] else "UNDECLARED"
            print(f"{','.join(row['methods']):<10} {row['path']:<55} {access}")
    elif args.command == "migrate":
        from hotline.migrate import upgrade

        upgrade(settings)
    elif args.command == "stack":
        from hotline.migrate import upgrade
        from hotline.stack import run

        upgrade(settings)
        return asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

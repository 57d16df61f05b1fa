"""`python -m hotline create-user USERNAME --role ROLE [...]`: create a console account.

The password is read from the terminal (asked twice) or, with --password-stdin, from the first
line of standard input; never from the command line, where `ps` and shell history would show it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from console import users
from hotline.db import create_engine, session_factory
from hotline.settings import Settings
from referral import domain
from referral.access import ROLES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hotline create-user",
                                description="Create a staff console account.")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--department", choices=list(domain.departments()),
                   help="department code; required for role staff")
    p.add_argument("--unit", action="append", default=[], dest="units", metavar="NAME",
                   help="乡镇/街道 the clerk is limited to: its name, office or code in the unit "
                        "directory (repeatable; none = whole department)")
    p.add_argument("--display-name")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    return p


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再输入一次 / again: ") != first:
        raise users.UserError("password", "两次输入的密码不一致")
    return first


async def _create(settings: Settings, args: argparse.Namespace, password: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        await users.create_user(session_factory(engine), args.username, password, args.role,
                                args.department, args.units, args.display_name)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        password = _read_password(args.password_stdin)
        asyncio.run(_create(settings or Settings.from_env(), args, password))
    except users.UserError as exc:
        print(f"error: {exc.field}: {exc}", file=sys.stderr)
        return 2
    print(f"created {args.role} {args.username}")
    return 0

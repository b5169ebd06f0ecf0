"""`fieldops`: run the local stack, make the first admin, apply migrations.

    fieldops run                                   start everything in the foreground (what `make run` does)
    fieldops create-admin --email E --password P   make (or refresh) an admin; safe to repeat
    fieldops migrate                               apply every service's migrations
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from shared.settings import get_settings


def run() -> int:
    from deploy.stack import Stack

    stack = Stack()
    stop = {"now": False}

    def request_stop(signum, _frame) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"fieldops: starting the local stack (data in {stack.data}) ...", flush=True)
    try:
        stack.start()
        print("\nfieldops is up:", flush=True)
        for label, url in stack.urls().items():
            print(f"  {label:<24} {url}")
        print("\nMake an admin:  .venv/bin/fieldops create-admin --email admin@example.com --password 'a-long-secret'")
        print("Stop with Ctrl-C.", flush=True)
        while not stop["now"]:
            for process in stack.processes.values():
                if process.popen.poll() is not None:
                    print(f"fieldops: {process.name} exited ({process.popen.returncode}); see {process.log}")
                    stop["now"] = True
            time.sleep(0.5)
    finally:
        print("fieldops: stopping ...", flush=True)
        stack.stop()
        print("fieldops: stopped.", flush=True)
    return 0


async def create_admin(email: str, password: str, full_name: str) -> str:
    from sqlalchemy import select

    from services.intake.accounts import create_user
    from services.intake.models import User
    from services.intake.schemas import UserIn
    from shared.auth import hash_password
    from shared.contracts.enums import Role
    from shared.db import Database

    body = UserIn(email=email, password=password, full_name=full_name, role=Role.admin)
    db = Database(get_settings().database_url("intake"))
    try:
        async with db.sessions() as session:
            user = (await session.execute(select(User).where(User.email == body.email.lower()))).scalar_one_or_none()
            if user is None:
                await create_user(session, body)
                outcome = "created"
            else:
                if user.role != Role.admin.value:
                    raise SystemExit(f"{email} already belongs to a {user.role} user")
                user.password_hash, user.active = hash_password(password), True
                outcome = "already there; password refreshed"
            await session.commit()
    finally:
        await db.dispose()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fieldops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole local stack in the foreground")
    admin = commands.add_parser("create-admin", help="make the first admin (idempotent)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--full-name", default="Administrator")
    commands.add_parser("migrate", help="apply every service's database migrations")
    commands.add_parser("prepare", help="migrations, the attachments bucket and Temporal search attributes")
    commands.add_parser("gateway-routes", help="print the gateway's Traefik routes for these settings")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    if args.command in ("migrate", "prepare"):
        from deploy import prepare

        prepare.migrate_all()
        if args.command == "prepare":
            prepare.ensure_bucket(get_settings())
            asyncio.run(prepare.register_search_attributes(get_settings()))
        return 0
    if args.command == "gateway-routes":
        from deploy.stack import gateway_routes

        print(gateway_routes(get_settings()))
        return 0
    from shared import migrations

    migrations.upgrade("intake")
    try:
        outcome = asyncio.run(create_admin(args.email, args.password, args.full_name))
    except ValueError as exc:
        print(f"fieldops: {exc}", file=sys.stderr)
        return 2
    print(f"admin {args.email}: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

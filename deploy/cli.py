"""`fieldops`: run the local stack, make the first admin, apply migrations.

fieldops run                                   start everything in the foreground (what `make run` does)
fieldops create-admin --email E --password P   make (or refresh) an admin in the running stack; safe to repeat
fieldops migrate                               apply every service's migrations
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

from pydantic import ValidationError

from shared.settings import get_settings


def run() -> int:
    from deploy.stack import PortInUse, Stack

    stack = Stack()
    stop = {"now": False}

    def request_stop(signum, _frame) -> None:
        stop["now"] = True

    # Ctrl-C, a kill, or the terminal closing: the components stop in order. (A SIGKILL cannot be caught:
    # then the stack's watchdog kills them; see deploy/stack.py.)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    try:
        stack.check_ports()  # before a word about starting: a taken port is the one line said
    except PortInUse as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"fieldops: starting the local stack (data in {stack.data}) ...", flush=True)
    try:
        try:
            stack.start()
        except RuntimeError as exc:  # a port taken meanwhile, or a component that would not start (its log says why)
            print(exc, file=sys.stderr)
            return 1
        print("\nfieldops is up:", flush=True)
        for label, url in stack.urls().items():
            print(f"  {label:<24} {url}")
        offset = stack.settings.port_offset
        env = f"FIELDOPS_PORT_OFFSET={offset} " if offset else ""
        print(
            f"\nMake an admin:  {env}.venv/bin/fieldops create-admin --email admin@example.com "
            "--password 'a-long-secret'"
        )
        print(f"Temporal CLI:   .venv/bin/temporal workflow list --address {stack.settings.temporal_target}")
        print("Stop with Ctrl-C.", flush=True)
        # A component that dies is started again (with backoff) rather than leaving the stack half up.
        while not stop["now"]:
            for line in stack.supervise():
                print(line, flush=True)
            time.sleep(0.5)
    finally:
        print("fieldops: stopping ...", flush=True)
        stack.stop()
        print("fieldops: stopped.", flush=True)
    return 0


def admin_database() -> tuple[str, str]:
    """The intake database `create-admin` writes to, and where that is in words: the running stack at
    FIELDOPS_PORT_OFFSET (0 when unset), else the only stack running, whatever the caller's directory or other
    settings; with no stack running, the one the caller's settings name (where `fieldops run` would start)."""
    from deploy.stack import running_stacks

    given = os.environ.get("FIELDOPS_PORT_OFFSET")
    try:
        offset = int(given or 0)
    except ValueError:
        raise SystemExit(f"fieldops: FIELDOPS_PORT_OFFSET must be a whole number, not {given!r}") from None
    stacks = running_stacks()
    stack = stacks.get(offset)
    if stack is None and given is None and len(stacks) == 1:
        stack = next(iter(stacks.values()))
    if stack is not None:
        return stack["intake_database"], (
            f"the running stack at {stack['api_url']} "
            f"(FIELDOPS_PORT_OFFSET={stack['port_offset']}, data in {stack['data_dir']})"
        )
    if stacks:
        raise SystemExit(
            f"fieldops: no stack runs at FIELDOPS_PORT_OFFSET={offset}; stacks run at offsets "
            f"{', '.join(map(str, sorted(stacks)))}: set FIELDOPS_PORT_OFFSET to one of them"
        )
    settings = get_settings()
    return settings.database_url("intake"), (
        f"no stack is running; the data folder {settings.data_dir.resolve()} is the one `fieldops run` starts from here"
    )


async def create_admin(url: str, email: str, password: str, full_name: str) -> str:
    from sqlalchemy import select

    from services.intake.models import User
    from services.intake.schemas import UserIn
    from services.intake.service import create_user
    from shared.auth import hash_password
    from shared.contracts.enums import Role
    from shared.db import Database

    body = UserIn(email=email, password=password, full_name=full_name, role=Role.admin)
    db = Database(url)
    try:
        async with db.sessions() as session:
            user = (await session.execute(select(User).where(User.email == body.email.lower()))).scalar_one_or_none()
            if user is None:
                await create_user(session, body)
                outcome = "created"
            else:
                if user.role != Role.admin.value:
                    raise SystemExit(f"fieldops: {email} already belongs to a {user.role} user")
                user.password_hash, user.active = hash_password(password), True
                outcome = "already there; password refreshed"
            await session.commit()
    finally:
        await db.dispose()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fieldops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
        from shared.settings import Settings

        # Routes need the services' addresses only: no secret is asked for.
        print(gateway_routes(Settings(env="local")))
        return 0
    from sqlalchemy import make_url

    from shared import migrations

    try:
        url, where = admin_database()
        migrations.upgrade("intake", url)
        outcome = asyncio.run(create_admin(url, args.email, args.password, args.full_name))
    except ValidationError as exc:  # FIELDOPS_* settings that do not hold together, or a refused password
        print(f"fieldops: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"fieldops: {exc}", file=sys.stderr)
        return 2
    print(f"admin {args.email}: {outcome}, in {make_url(url).render_as_string(hide_password=True)}\n  ({where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

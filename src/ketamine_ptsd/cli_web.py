"""The web app on the command line: ``serve`` starts it; ``user add``, ``list``,
``disable``, ``enable``, ``set-role`` and ``reset-password`` manage who may sign in (every
change is in the audit trail under the acting user).

Mounted by ``cli.py``: the ``serve`` command and the ``user`` app. The database is the one
named by ``--db`` (here or the global option), else ``KETAMINE_PTSD_DB``, else SQLite in
the user's data folder. Passwords are read from standard input (typed twice, hidden, at a
terminal; the first line otherwise, so scripts can pipe them), never from an option that
would land in the shell history.
"""

from __future__ import annotations

import copy
import getpass
import sys
from typing import Optional

import typer

from ketamine_ptsd.clinic import NOT_A_MEDICAL_DEVICE
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records, default_actor, resolve_url
from ketamine_ptsd.store.models import ROLES

DB_OPTION = typer.Option(None, "--db", help="database URL of the clinic records (default: the global --db, "
                         "KETAMINE_PTSD_DB, else SQLite in the user's data folder)")

user_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                       help="Users of the web app: add, list, disable, enable, set-role, "
                       "reset-password (passwords from standard input).")


def uvicorn_log_config() -> dict:
    """uvicorn's logging configuration with the access log's query strings removed (a
    search for a patient's name must not reach the log)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["without_query"] = {"()": "ketamine_ptsd.web.privacy.AccessLogWithoutQuery"}
    config["handlers"]["access"]["filters"] = ["without_query"]
    return config


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default; put a TLS proxy in "
                             "front before opening it to a network)"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    db: Optional[str] = DB_OPTION,
    secure_cookie: bool = typer.Option(False, "--secure-cookie", help="mark the session cookie Secure (behind "
                                       "HTTPS)"),
    trusted_proxy: Optional[list[str]] = typer.Option(None, "--trusted-proxy", help="address (or network) of a "
                                                      "reverse proxy whose X-Forwarded-For is believed; repeat for "
                                                      "several (default: none, the header is ignored)"),
) -> None:
    """Start the clinic web app. Sign in with a user from `ketamine-ptsd user add`; the
    session-cookie key comes from KETAMINE_PTSD_SECRET_KEY (else a new one per start)."""
    import uvicorn

    from ketamine_ptsd.web import WebConfig, create_app

    config = WebConfig(secure_cookie=secure_cookie, trusted_proxies=tuple(trusted_proxy or ()))
    app = create_app(resolve_url(db), config=config)
    typer.echo(f"ketamine-ptsd clinic on http://{host}:{port}  ({NOT_A_MEDICAL_DEVICE})", err=True)
    # The app reads X-Forwarded-For itself, from the configured proxies only (uvicorn would
    # believe any loopback client).
    uvicorn.run(app, host=host, port=port, log_config=uvicorn_log_config(), server_header=False,
                proxy_headers=False)


def read_password(stream=None) -> str:
    """The new password: typed twice at a terminal, else the first line of ``stream``."""
    stream = stream or sys.stdin
    if stream.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("password again: "):
            raise InputError("password", "the two entries differ", "the same password twice")
        return first
    return stream.readline().rstrip("\r\n")


@user_app.command("add")
def user_add(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="sign-in name (default with --admin: admin)"),
    role: Optional[str] = typer.Option(None, "--role", help=f"one of {', '.join(ROLES)}"),
    admin: bool = typer.Option(False, "--admin", help="make this user an admin (the first user of a clinic)"),
    db: Optional[str] = DB_OPTION,
) -> None:
    """Add a user of the web app; the password (8 or more characters) is read from standard
    input and kept only as an argon2 hash."""
    if admin and role not in (None, "admin"):
        raise InputError("--role", f"--admin contradicts --role {role}", "--admin alone, or --role admin")
    role = "admin" if admin else role
    if role is None:
        raise InputError("--role", "no role given", ", ".join(ROLES) + " (or --admin)")
    if role not in ROLES:
        raise InputError("--role", f"unknown role {role!r}", ", ".join(ROLES))
    name = name or ("admin" if admin else None)
    if not name:
        raise InputError("NAME", "no user name given", "1-120 characters")
    password = read_password()
    with Records.open(resolve_url(db), actor=default_actor()) as records:
        user = records.add_user(name, role, password)
    typer.echo(f"added user {user.name} ({user.role})")


@user_app.command("list")
def user_list(db: Optional[str] = DB_OPTION) -> None:
    """List the users: name, role, since, status (never the password hashes)."""
    with Records.open(resolve_url(db), actor=default_actor()) as records:
        for user in records.users():
            status = "disabled" if user.disabled else "active"
            typer.echo(f"{user.name}\t{user.role}\t{user.created_at.date().isoformat()}\t{status}")


NAME_ARGUMENT = typer.Argument(..., metavar="NAME", help="sign-in name (see `ketamine-ptsd user list`)")


@user_app.command("disable")
def user_disable(name: str = NAME_ARGUMENT, db: Optional[str] = DB_OPTION) -> None:
    """Disable a user: no sign-in, and their open web sessions end at their next request."""
    with Records.open(resolve_url(db), actor=default_actor()) as records:
        user = records.set_user_disabled(name, True)
    typer.echo(f"disabled user {user.name}")


@user_app.command("enable")
def user_enable(name: str = NAME_ARGUMENT, db: Optional[str] = DB_OPTION) -> None:
    """Enable a disabled user again."""
    with Records.open(resolve_url(db), actor=default_actor()) as records:
        user = records.set_user_disabled(name, False)
    typer.echo(f"enabled user {user.name}")


@user_app.command("set-role")
def user_set_role(name: str = NAME_ARGUMENT,
                  role: str = typer.Argument(..., metavar="ROLE", help=f"one of {', '.join(ROLES)}"),
                  db: Optional[str] = DB_OPTION) -> None:
    """Change a user's role; it applies from their next request."""
    if role not in ROLES:
        raise InputError("ROLE", f"unknown role {role!r}", ", ".join(ROLES))
    with Records.open(resolve_url(db), actor=default_actor()) as records:
        user = records.set_user_role(name, role)
    typer.echo(f"user {user.name} is now {user.role}")


@user_app.command("reset-password")
def user_reset_password(name: str = NAME_ARGUMENT, db: Optional[str] = DB_OPTION) -> None:
    """Set a user's new password, read from standard input (8 or more characters)."""
    password = read_password()
    with Records.open(resolve_url(db), actor=default_actor()) as records:
        user = records.reset_password(name, password)
    typer.echo(f"new password set for {user.name}")

"""`python -m app user add NAME`: add a user to the users file, or change their password;
`python -m app user signout NAME`: end every session of theirs, on every replica.

The password is asked twice on the terminal (or read from stdin with --password-stdin, for
scripts); only its argon2 hash is written. The file is KNOBS_USERS_FILE unless --file names
another. A running Knobs picks the change up at the next sign-in. Signing out uses the
database Knobs uses (DATABASE_URL, or knobs.db in KNOBS_DATA_DIR); `token` signs out everyone
who signed in with the shared token.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from app.access.users import UsersFileError, add_user
from app.settings import get_settings
from app.storage.session_book import StoredSessions
from app.storage.store import RunStore, StoreError, store_url

MIN_PASSWORD = 8


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("The two passwords differ; nothing was written.")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    user = commands.add_parser("user", help="manage the users file").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="add a user, or set a new password for one")
    add.add_argument("name")
    add.add_argument("--file", type=Path, help="the users file (default: KNOBS_USERS_FILE)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    signout = user.add_parser("signout", help="end every session of a user, everywhere")
    signout.add_argument("name")
    args = parser.parse_args(argv)
    if args.action == "signout":
        return sign_out(args.name)

    path = args.file or (
        Path(os.environ["KNOBS_USERS_FILE"]) if "KNOBS_USERS_FILE" in os.environ else None
    )
    if path is None:
        parser.error("say which users file: --file PATH, or set KNOBS_USERS_FILE")
    password = read_password(args.password_stdin)
    if len(password) < MIN_PASSWORD:
        raise SystemExit(
            f"Use a password of at least {MIN_PASSWORD} characters; nothing was written."
        )
    try:
        new = add_user(path, args.name, password)
    except (UsersFileError, OSError) as error:
        raise SystemExit(f"Nothing was written: {error}") from None
    print(f"{'Added' if new else 'Changed the password of'} {args.name} in {path}.")
    return 0


def sign_out(name: str) -> int:
    settings = get_settings()
    try:
        store = RunStore(store_url(settings.database_url, settings.data_dir))
    except StoreError as error:
        raise SystemExit(f"No one was signed out: {error}") from None
    try:
        ended = StoredSessions(store.engine).end_all_now(name)
    finally:
        store.close()
    print(f"Ended {ended} session{'s' if ended != 1 else ''} of {name} in {store.where}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

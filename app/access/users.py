"""Named users with hashed passwords, one `name:argon2-hash` line each (KNOBS_USERS_FILE).

Hashing is argon2-cffi's (Argon2id, its default parameters), never home-made. The file is
read again whenever it changes, so `python -m app user add NAME` takes effect without a
restart. A password is never stored, logged or compared in the clear.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger("knobs.access")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
# The authors of runs that no one in particular ran: the shared token, and no sign-in. No
# user (from the file or an SSO proxy) may take these names, in any case, or they would own
# and delete every such run.
TOKEN_USER, ANONYMOUS_USER = "token", "anonymous"
RESERVED = frozenset({TOKEN_USER, ANONYMOUS_USER})
_hasher = PasswordHasher()
# Checked for a name that is not in the file, so that a wrong name costs as long as a
# wrong password and the time taken does not tell which names exist.
_DECOY = _hasher.hash("not anyone's password")


class UsersFileError(ValueError):
    """The users file cannot be read or has a line Knobs does not understand."""


def reserved(name: str) -> bool:
    """Whether `name` stands for a kind of author rather than a person (RESERVED)."""
    return name.strip().lower() in RESERVED


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a user's name; None when it can."""
    if reserved(name):
        return f"{name!r} cannot be a user name: Knobs records runs under it for the " + (
            "shared token" if name.strip().lower() == TOKEN_USER else "no-login mode"
        )
    if not NAME.fullmatch(name):
        return (
            f"{name!r} cannot be a user name: letters, digits and . _ @ + - only, "
            "starting with a letter or digit, at most 64"
        )
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def parse(text: str) -> dict[str, str]:
    """`{name: hash}` from the file's text; blank lines and `#` comments are skipped."""
    users = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, hashed = line.partition(":")
        if reserved(name):
            raise UsersFileError(f"line {number}: {name_problem(name)}; rename or remove it")
        if not NAME.fullmatch(name) or not hashed.startswith("$argon2"):
            raise UsersFileError(
                f"line {number}: expected `name:$argon2id$…` as "
                "`python -m app user add NAME` writes it"
            )
        users[name] = hashed
    return users


class Users:
    """The users file, re-read when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, str] = {}
        self.current()  # a missing or broken file stops start-up, naming the line

    def current(self) -> dict[str, str]:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                self._users = parse(self.path.read_text(encoding="utf-8"))
                self._stamp = stamp
        except (OSError, UsersFileError) as error:
            problem = UsersFileError(f"cannot read KNOBS_USERS_FILE {self.path}: {error}")
            if self._stamp is None:
                raise problem from None  # at start: stop, saying what to fix
            # While serving, a file caught half edited must not lock everyone out.
            log.warning("%s; still using the users read before", problem)
        return self._users

    def hash_of(self, name: str) -> str | None:
        return self.current().get(name)

    def check(self, name: str, password: str) -> bool:
        """Whether the password is the user's; as slow for an unknown name as for a known one."""
        hashed = self.hash_of(name)
        try:
            return _hasher.verify(hashed or _DECOY, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False


def add_user(path: Path, name: str, password: str) -> bool:
    """Write `name`'s hash into the file (created if need be); True when the name was new.

    The file is replaced in one step, so Knobs never reads it half written.
    """
    if problem := name_problem(name):
        raise UsersFileError(problem)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    try:
        parse("\n".join(lines))  # refuse to rewrite a file we do not understand
    except UsersFileError as error:
        raise UsersFileError(f"{path}: {error}") from None
    kept = [line for line in lines if line.strip().partition(":")[0] != name]
    kept.append(f"{name}:{hash_password(password)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write("\n".join(kept) + "\n")
    os.replace(temporary, path)
    return len(kept) > len(lines)

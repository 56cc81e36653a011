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
_hasher = PasswordHasher()
# Checked for a name that is not in the file, so that a wrong name costs as long as a
# wrong password and the time taken does not tell which names exist.
_DECOY = _hasher.hash("not anyone's password")


class UsersFileError(ValueError):
    """The users file cannot be read or has a line Knobs does not understand."""


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
    if not NAME.fullmatch(name):
        raise UsersFileError(
            f"{name!r} cannot be a user name: letters, digits and . _ @ + - only, "
            "starting with a letter or digit, at most 64"
        )
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

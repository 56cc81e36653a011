"""Folders and files only Knobs' own user may read: the data folder holds every prompt, and
the database the session signing key.

Only what Knobs creates gets these modes: a folder or file someone else made keeps theirs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_folder(folder: Path) -> None:
    """Create `folder`, and any missing parent, readable by this user only."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        # Made meanwhile by another replica or process: then its mode is its maker's.
        with contextlib.suppress(FileExistsError):
            # The umask can only take bits away from 0700, never add group or other.
            path.mkdir(mode=FOLDER_MODE)


def create_private_file(path: Path) -> None:
    """Create `path`, empty and readable by this user only, unless it is there already.

    Used before SQLite opens its database (SQLite gives its -wal and -shm files the mode of
    the database) and before a log is first written.
    """
    make_private_folder(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))

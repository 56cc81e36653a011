"""Where this process listens: the fact that decides whether Knobs may run without a login.

Why look at the sockets rather than at a setting or at each request: the server that runs
Knobs (uvicorn, gunicorn, a test) does not tell the app which address it bound, and a setting
the Dockerfile sets is forgotten the first time someone runs `uvicorn --host 0.0.0.0` by
hand. Each request's own server address does not settle it either: rootless podman and a
reverse proxy on the same host both deliver outside visitors over loopback. The listening
sockets are the truth whoever started Knobs, so they are read from the process's open file
descriptors once they exist (uvicorn binds them just after the app's start-up).
"""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass

from app.access.clients import ip

FD_FOLDER = "/dev/fd"  # Linux and macOS both list the process's descriptors here


@dataclass(frozen=True)
class Listener:
    """One listening socket: its host ("" for a Unix socket) and port."""

    host: str
    port: int

    @property
    def local(self) -> bool:
        """Reachable only from this machine: a loopback address or a Unix socket."""
        if not self.host:
            return True
        address = ip(self.host)
        return address is not None and address.is_loopback


def listeners() -> list[Listener] | None:
    """The sockets this process listens on; None when they cannot be read."""
    try:
        names = os.listdir(FD_FOLDER)
    except OSError:
        return None
    found = []
    for name in names:
        listener = _listener(int(name)) if name.isdigit() else None
        if listener is not None:
            found.append(listener)
    return found


def _listener(fd: int) -> Listener | None:
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        # A duplicate, so closing it leaves the server's socket open; its family is detected.
        with socket.socket(fileno=os.dup(fd)) as sock:
            if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                return None
            address = sock.getsockname()
    except OSError:  # closed meanwhile, or not a socket we can ask
        return None
    if isinstance(address, tuple):
        return Listener(str(address[0]), int(address[1]))
    return Listener("", 0)  # a Unix socket's path


def only_local(found: list[Listener] | None) -> bool:
    """True when every listening socket is loopback (or none listens, as in tests in-process).

    Unknown counts as not local: a login that was not needed beats an open door.
    """
    return found is not None and all(listener.local for listener in found)

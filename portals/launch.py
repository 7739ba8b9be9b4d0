"""Start Streamlit for `tokenworks serve`, with Nagle's algorithm off on its connections.

Streamlit binds its listening socket with protocol 0, and asyncio sets TCP_NODELAY only
on sockets that report TCP; the launcher wraps Streamlit's binder so the socket (and every
connection accepted from it) reports TCP. Should a Streamlit release move the binder, the
wrapper is skipped and the server runs as before, only slower.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable

log = logging.getLogger("tokenworks.serve")


def as_tcp_socket(sock: socket.socket) -> socket.socket:
    """The same listening socket, as an object that knows it is TCP."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto:
        return sock
    timeout = sock.gettimeout()
    tcp = socket.socket(fileno=sock.detach())  # family, type and protocol read from the fd
    tcp.settimeout(timeout)
    return tcp


def _wrap_binder() -> None:
    try:
        from streamlit.web.server.starlette import starlette_server
    except ImportError:
        return
    original: Callable[..., socket.socket] | None = getattr(starlette_server, "_bind_socket", None)
    if original is None:
        log.debug("streamlit has no _bind_socket; TCP_NODELAY is left to it")
        return

    def bind(*args: object, **kwargs: object) -> socket.socket:
        return as_tcp_socket(original(*args, **kwargs))

    starlette_server._bind_socket = bind


def main() -> None:
    """`python -m tokenworks.portals.launch run FILE [options]`: streamlit's own CLI."""
    _wrap_binder()
    from streamlit.web.cli import main as streamlit_main

    sys.argv[0] = "streamlit"
    streamlit_main()


if __name__ == "__main__":
    main()

"""tokenworks serve's launcher turns Nagle's algorithm off on the server's connections."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

from tokenworks.portals.launch import as_tcp_socket


def _bound_like_streamlit() -> socket.socket:
    sock = socket.socket(family=socket.AF_INET)  # what Streamlit's binder does: protocol 0
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    return sock


async def _nodelay_of_accepted(listening: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listening)
    _, writer = await asyncio.open_connection(*listening.getsockname())
    try:
        return await asyncio.wait_for(seen, 5)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def nodelay_of_accepted(listening: socket.socket) -> int:
    # In a thread of its own: other tests may leave an event loop set in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _nodelay_of_accepted(listening)).result(timeout=10)


def test_streamlit_style_socket_leaves_nagle_on_and_the_launcher_turns_it_off() -> None:
    # The problem the launcher exists for: asyncio skips TCP_NODELAY on a protocol-0 socket.
    assert nodelay_of_accepted(_bound_like_streamlit()) == 0
    fixed = as_tcp_socket(_bound_like_streamlit())
    assert fixed.proto == socket.IPPROTO_TCP and not fixed.getblocking()
    assert nodelay_of_accepted(fixed) != 0

"""A lean closed-loop HTTP/1.1 load generator on asyncio streams (for ``load_test.py``).

It shares the CPU with the server it measures, so it does as little as it can per
request: every request is encoded to bytes once, before the timed loop; each client
keeps one keep-alive connection; a response is read as its head (status line and
headers up to the blank line) and a Content-Length (or chunked) body. When the server
closes the connection (after a 413, say) or it fails, the client reconnects before its
next request, inside that request's timing, as an HTTP client library would.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

Encoded = tuple[str, bytes]  # kind, the whole request as sent
TIMEOUT_S = 30.0  # per request, connecting included
TRANSPORT_ERROR = -1  # the status recorded when no complete response came back


def encode_request(host: str, method: str, path: str, body: bytes | None) -> bytes:
    """One request, as bytes: request line, Host, Content-Type, Content-Length, body."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    if body is not None:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("ascii") + b"\r\n" + (body or b"")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].split(b"\r\n")
    version, status_text = status_line.split(b" ", 2)[:2]
    status = int(status_text)
    length: int | None = None
    chunked = False
    close = version == b"HTTP/1.0"
    for line in lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if status < 200 or status in (204, 304):
        pass  # no body (a 1xx would be followed by the real response: never sent here)
    elif chunked:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
    elif length is not None:
        await reader.readexactly(length)
    else:  # the body runs until the server closes
        await reader.read()
        close = True
    return status, close


class Connection:
    """One keep-alive connection, opened on first use and reopened after a close or failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> int:
        """Send one request and read its response; the status, or ``TRANSPORT_ERROR``."""
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if self.writer is None:
                    # asyncio and uvloop both set TCP_NODELAY on TCP connections
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                assert self.reader is not None
                self.writer.write(request)
                if len(request) > 16_384:  # only a large body can fill the socket buffer
                    await self.writer.drain()
                status, close = await read_response(self.reader)
        except (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError):
            # IncompleteReadError is an EOFError; a garbled head raises ValueError
            self.close()
            return TRANSPORT_ERROR
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_load(
    host: str, port: int, requests: list[Encoded], concurrency: int, max_seconds: float
) -> tuple[list[tuple[str, int, float]], float]:
    """Send ``requests`` in order with ``concurrency`` closed-loop clients, stopping early
    after ``max_seconds``; return ``(kind, status, milliseconds)`` per request and the wall time."""
    records: list[tuple[str, int, float]] = []
    cursor = iter(requests)
    clock = time.perf_counter
    deadline = clock() + max_seconds

    async def client() -> None:
        connection = Connection(host, port)
        try:
            for kind, request in cursor:
                begin = clock()
                if begin > deadline:
                    return
                status = await connection.send(request)
                records.append((kind, status, (clock() - begin) * 1000))
        finally:
            connection.close()

    start = clock()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return records, clock() - start


def run_async(coroutine: Any) -> Any:
    """On uvloop where installed: the load generator shares the CPU, so keep it lean."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def loop_name() -> str:
    """The event loop ``run_async`` uses, for the report."""
    try:
        import uvloop
    except ImportError:
        return "asyncio event loop"
    return f"uvloop {uvloop.__version__}"

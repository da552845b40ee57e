"""Pipelined commands on one plain connection: the hot path's way to Redis.

redis-py's asyncio pipeline packs every command in Python and reads every reply under a
timeout of its own: about 27 µs of user CPU per command, and a lone call about 170 µs,
where writing the packed bytes and parsing the replies with hiredis costs about 1.5 µs a
command and 70 µs a round trip (``bench/README.md``, "Webhooks", session 17). The
worker's acks and reserves, the accepted webhooks' enqueues and every rate-limit
decision are such calls, so :class:`~pulse_adapters.redis.script_batch.ScriptBatcher`
sends them here. redis-py stays for everything else, builds the client's settings, and
is the oracle its tests compare the replies with.

One connection carries every batch: a batch is written as soon as it is ready, even while
earlier ones wait for their replies, and one reader hands replies out in order (Redis
answers a connection's commands in the order sent). A connection that fails, or a batch
that is cancelled or times out before its replies came, closes the connection and fails
every batch still waiting on it with redis-py's ``ConnectionError``; the next batch opens
a new one. Nothing is sent again: whether a script ran when its reply was lost is
unknown, so its caller hears of the failure instead.

Only what a plain ``redis://`` URL says is supported here (host, port, username,
password, database, connect timeout); :func:`pipe_for` returns ``None`` for anything
else (TLS, a Unix socket, RESP3, credential providers), and callers keep redis-py's own
pipeline for those.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Final

import hiredis
import redis.asyncio
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

#: What ``from_url`` puts in a plain connection's settings besides the address itself;
#: redis-py's own bookkeeping (``himport_registry``, ``maint_notifications_*``,
#: ``orig_*``) and its retry policy do not change what goes over the wire.
_PLAIN_SETTINGS: Final = frozenset(
    {
        "host",
        "port",
        "db",
        "username",
        "password",
        "socket_connect_timeout",
        "socket_timeout",
        "retry",
        "himport_registry",
        "maint_notifications_pool_handler",
        "maint_notifications_config",
        "orig_host_address",
        "orig_socket_timeout",
        "orig_socket_connect_timeout",
    }
)
_READ_SIZE: Final = 64 * 1024


def pipe_for(client: redis.asyncio.Redis) -> RespPipe | None:
    """A pipe to the server ``client`` is configured for, or ``None`` when its settings
    ask for more than a plain TCP connection."""
    pool = client.connection_pool
    settings = pool.connection_kwargs
    if pool.connection_class is not redis.asyncio.Connection:
        return None
    if not _PLAIN_SETTINGS.issuperset(settings):
        return None
    return RespPipe(
        host=str(settings.get("host", "localhost")),
        port=int(settings.get("port", 6379)),
        db=int(settings.get("db") or 0),
        username=settings.get("username"),
        password=settings.get("password"),
        connect_timeout=settings.get("socket_connect_timeout"),
    )


def pack(*args: str | bytes | int) -> bytes:
    """One command in the Redis protocol."""
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]  # its stub: 1-tuples
    return packed


_Owed = tuple[int, "asyncio.Future[list[object]]"]  # how many replies, and who awaits them


class _Link:
    """One open connection and the replies it still owes, oldest first."""

    __slots__ = ("owed", "reader", "task", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.owed: collections.deque[_Owed] = collections.deque()
        self.task: asyncio.Task[None] | None = None


class RespPipe:
    """Sends packed commands and returns their replies as redis-py returns them with
    ``decode_responses=False``: bytes, ints, lists, ``None``, and an error reply as the
    exception redis-py would raise for it (``NoScriptError``, ``ResponseError``, …),
    returned in its place rather than raised. A failed connection raises
    ``redis.exceptions.ConnectionError`` (or ``TimeoutError`` for a connect that took
    too long) to every batch waiting on it."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self._address = (host, port)
        self._hello: list[bytes] = []
        if password is not None:
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            self._hello.append(pack(*auth))
        if db:
            self._hello.append(pack("SELECT", db))
        self._connect_timeout = connect_timeout
        self._link: _Link | None = None
        self._opening: asyncio.Future[_Link] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def call(self, commands: Sequence[bytes]) -> list[object]:
        """The replies to ``commands`` (packed with :func:`pack`), in order."""
        link = await self._open()
        owed: asyncio.Future[list[object]] = asyncio.get_running_loop().create_future()
        link.owed.append((len(commands), owed))
        try:
            link.writer.write(b"".join(commands))
            return await owed
        except RuntimeError as exc:  # uvloop: a write to a transport the peer closed
            lost = RedisConnectionError(f"connection to Redis lost: {exc}")
            lost.__cause__ = exc
            self._close(link, lost)  # this batch's failure too: raised by its own future
            return await owed
        except BaseException:
            # Cancelled or timed out with replies still owed: they would be taken for
            # the next batch's, so nobody may read this connection again.
            if not owed.done() or owed.cancelled():
                self._close(link, RedisConnectionError("a batch was abandoned on this connection"))
            raise

    async def aclose(self) -> None:
        link, self._link = self._link, None
        if link is not None and self._loop is asyncio.get_running_loop():
            self._close(link, RedisConnectionError("closed"))

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A connection belongs to the loop that opened it (a process has one; tests
            # may run several in turn).
            self._loop, self._link, self._opening = loop, None, None
        link = self._link
        if link is not None:
            return link
        if self._opening is None:
            self._opening = loop.create_future()
            opening = self._opening
            try:
                link = await self._connect()
            except BaseException as exc:
                self._opening = None
                error = exc if isinstance(exc, Exception) else RedisConnectionError("cancelled")
                opening.set_exception(error)
                opening.exception()  # retrieved: nobody else may be waiting
                raise
            self._link, self._opening = link, None
            opening.set_result(link)
            return link
        return await asyncio.shield(self._opening)

    async def _connect(self) -> _Link:
        host, port = self._address
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=_READ_SIZE)
        except OSError as exc:
            raise RedisConnectionError(f"cannot connect to Redis at {host}:{port}: {exc}") from exc
        link = _Link(reader, writer)
        link.task = asyncio.get_running_loop().create_task(self._read(link))
        if self._hello:
            owed: asyncio.Future[list[object]] = asyncio.get_running_loop().create_future()
            link.owed.append((len(self._hello), owed))
            writer.write(b"".join(self._hello))
            try:
                async with asyncio.timeout(self._connect_timeout):
                    replies = await owed
            except BaseException:
                self._close(link, RedisConnectionError("the connection's set-up failed"))
                raise
            for reply in replies:
                if isinstance(reply, RedisError):
                    self._close(link, reply)
                    raise reply
        return link

    async def _read(self, link: _Link) -> None:
        # Error replies, nested ones too, become what redis-py makes of them.
        parser = hiredis.Reader(replyError=BaseParser.parse_error)
        replies: list[object] = []
        try:
            while True:
                data = await link.reader.read(_READ_SIZE)
                if not data:
                    raise RedisConnectionError("Redis closed the connection")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    replies.append(reply)
                    if not link.owed:
                        raise RedisConnectionError("Redis sent a reply nobody asked for")
                    count, owed = link.owed[0]
                    if len(replies) == count:
                        link.owed.popleft()
                        if not owed.done():
                            owed.set_result(replies)
                        replies = []
        except Exception as exc:  # whatever stops the reading fails what is owed
            error = exc if isinstance(exc, RedisError) else RedisConnectionError(str(exc))
            self._close(link, error)

    def _close(self, link: _Link, error: BaseException) -> None:
        if self._link is link:
            self._link = None
        link.writer.close()
        while link.owed:
            _, owed = link.owed.popleft()
            if not owed.done():
                owed.set_exception(error)
        if link.task is not None and link.task is not asyncio.current_task():
            link.task.cancel()

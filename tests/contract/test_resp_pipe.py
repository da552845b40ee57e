"""RespPipe, the hot path's own connection to Redis, held to redis-py as its oracle.

- every reply a script can give (nested arrays, integers, bulk and status strings, nil,
  error replies of every kind) comes back as redis-py returns it, errors as the same
  exception class with the same message, returned in place;
- batches written while earlier ones wait each get their own replies, in order;
- a batch abandoned (timed out) closes the connection, fails the batches waiting on it,
  and the next batch opens a new one; so does a server that went away;
- the URL's password, user and database are honoured; a wrong password is redis-py's
  ``AuthenticationError``;
- settings it does not speak (TLS, a Unix socket, a client name) give no pipe, and the
  script batches then go through redis-py, as before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import AuthenticationError, ConnectionError

from pulse_adapters.clock import ManualClock
from pulse_adapters.redis import RedisJobQueue, create_redis_client
from pulse_adapters.redis.resp_pipe import RespPipe, pack, pipe_for
from tests.support.redis_server import RedisServer

# Builds its reply from the JSON in ARGV[1]: a list is an array, {"err": m} an error
# reply (at the top or nested), {"ok": m} a status reply, {"nil_": 1} a nil, true 1,
# numbers integers.
ECHO = """
local function build(v)
  if type(v) == 'table' then
    if v.err then return {err = v.err} end
    if v.ok then return {ok = v.ok} end
    if v.nil_ then return false end
    local out = {}
    for i = 1, #v do out[i] = build(v[i]) end
    return out
  end
  return v
end
return build(cjson.decode(ARGV[1]))
"""

_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_scalar = st.one_of(
    st.integers(-(2**53), 2**53),
    st.binary(max_size=20).map(lambda b: b.hex()),
    _text,
    st.just(True),
    st.builds(lambda m: {"ok": m}, st.text(st.characters(categories=["L", "N"]), max_size=8)),
    st.just({"nil_": 1}),
)
_error = st.sampled_from(
    [
        "ERR something",
        "WRONGTYPE Operation against a key",
        "NOSCRIPT No matching script",
        "OOM no memory",
        "READONLY a replica",
        "CUSTOM made up",
        "plain words",
    ]
).map(lambda m: {"err": m})
_reply = st.recursive(
    st.one_of(_scalar, _error), lambda inner: st.lists(inner, max_size=4), max_leaves=12
)


def _same(mine: Any, oracle: Any) -> bool:
    if isinstance(oracle, Exception):
        return type(mine) is type(oracle) and str(mine) == str(oracle)
    if isinstance(oracle, list):
        return (
            isinstance(mine, list)
            and len(mine) == len(oracle)
            and all(_same(a, b) for a, b in zip(mine, oracle, strict=True))
        )
    return type(mine) is type(oracle) and mine == oracle


@pytest.fixture
async def pipe(redis_client: redis.asyncio.Redis) -> AsyncIterator[RespPipe]:
    made = pipe_for(redis_client)
    assert made is not None
    try:
        yield made
    finally:
        await made.aclose()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(replies=st.lists(_reply, min_size=1, max_size=5))
async def test_replies_are_what_redis_py_returns(
    redis_client: redis.asyncio.Redis, pipe: RespPipe, replies: list[Any]
) -> None:
    sha = await redis_client.script_load(ECHO)
    bodies = [json.dumps(reply) for reply in replies]
    oracle = redis_client.pipeline(transaction=False)
    for body in bodies:
        oracle.evalsha(sha, 0, body)
    expected = await oracle.execute(raise_on_error=False)

    mine = await pipe.call([pack("EVALSHA", sha, 0, body) for body in bodies])

    assert _same(mine, expected), (mine, expected)


async def test_batches_in_flight_together_each_get_their_own_replies(
    redis_client: redis.asyncio.Redis, pipe: RespPipe
) -> None:
    async def batch(n: int) -> list[object]:
        return await pipe.call([pack("ECHO", f"{n}-{i}") for i in range(n % 7 + 1)])

    results = await asyncio.gather(*(batch(n) for n in range(40)))

    for n, replies in enumerate(results):
        assert replies == [f"{n}-{i}".encode() for i in range(n % 7 + 1)]


async def test_an_abandoned_batch_closes_the_connection_and_the_next_opens_another(
    redis_client: redis.asyncio.Redis, pipe: RespPipe
) -> None:
    await pipe.call([pack("PING")])
    first = await redis_client.client_list()
    await redis_client.client_pause(500, all=True)  # takes commands, answers none
    waiting = asyncio.create_task(pipe.call([pack("ECHO", "b")]))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await pipe.call([pack("ECHO", "a")])
    # The batch sent before it on the same connection could no longer be told apart.
    with pytest.raises(ConnectionError):
        await waiting

    assert await pipe.call([pack("ECHO", "c")]) == [b"c"]  # after the pause, anew
    ids = {client["id"] for client in await redis_client.client_list()}
    assert len(ids - {client["id"] for client in first}) >= 1


async def test_a_server_gone_fails_the_waiting_batch_and_a_restart_is_picked_up() -> None:
    with RedisServer() as server:
        client = create_redis_client(server.url, timeout_seconds=1.0)
        pipe = pipe_for(client)
        assert pipe is not None
        try:
            assert await pipe.call([pack("PING")]) == [b"PONG"]
            server.stop()
            with pytest.raises(ConnectionError):
                async with asyncio.timeout(5):
                    await pipe.call([pack("PING")])
            server.start()
            assert await pipe.call([pack("PING")]) == [b"PONG"]
        finally:
            await pipe.aclose()
            await client.aclose()


async def test_password_user_and_database_from_the_url(
    redis_server: RedisServer, redis_client: redis.asyncio.Redis
) -> None:
    await redis_client.acl_setuser(
        "worker", enabled=True, passwords=["+s3cret"], keys=["*"], categories=["+@all"]
    )
    try:
        url = f"redis://worker:s3cret@127.0.0.1:{redis_server.port}/3"
        client = create_redis_client(url, timeout_seconds=1.0)
        pipe = pipe_for(client)
        assert pipe is not None
        try:
            assert await pipe.call([pack("SET", "where", "db3")]) == [b"OK"]
        finally:
            await pipe.aclose()
            await client.aclose()
        async with create_redis_client(
            f"redis://127.0.0.1:{redis_server.port}/3", timeout_seconds=1.0
        ) as third:
            assert await third.get("where") == b"db3"
        assert await redis_client.get("where") is None  # not in database 0

        wrong = create_redis_client(
            f"redis://worker:nope@127.0.0.1:{redis_server.port}/0", timeout_seconds=1.0
        )
        pipe = pipe_for(wrong)
        assert pipe is not None
        try:
            with pytest.raises(AuthenticationError):
                await pipe.call([pack("PING")])
            with pytest.raises(AuthenticationError):  # and so does redis-py
                await wrong.ping()
        finally:
            await pipe.aclose()
            await wrong.aclose()
    finally:
        await redis_client.acl_deluser("worker")


@pytest.mark.parametrize(
    "client",
    [
        lambda: create_redis_client("rediss://127.0.0.1:6390/0", timeout_seconds=1.0),
        lambda: create_redis_client("redis://127.0.0.1:6390/0?client_name=x", timeout_seconds=1.0),
        lambda: redis.asyncio.Redis(unix_socket_path="/tmp/redis.sock"),
        lambda: redis.asyncio.Redis(port=6390, protocol=3),
    ],
    ids=["tls", "client-name", "unix-socket", "resp3"],
)
def test_settings_it_does_not_speak_give_no_pipe(client: Any) -> None:
    assert pipe_for(client()) is None


async def test_without_a_pipe_batches_go_through_redis_py(redis_url: str) -> None:
    client = create_redis_client(redis_url + "?client_name=fallback", timeout_seconds=1.0)
    try:
        assert pipe_for(client) is None
        jobs = RedisJobQueue(client, ManualClock())
        await client.script_flush()
        ids = await asyncio.gather(*(jobs.enqueue("q", f"{i}".encode()) for i in range(30)))
        alone = await jobs.enqueue("q", b"alone")
        entries = await client.xrange(jobs.keys("q")["jobs"])
        assert [fields[b"job"].decode() for _, fields in entries] == [*ids, alone]
    finally:
        await client.aclose()

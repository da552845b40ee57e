"""Webhook POSTs with aiohttp, connecting only to the addresses the policy checked.

The reference :class:`~pulse_adapters.http.AsyncioWebhookSender` is tested against
(``tests/contract/test_webhook_sender.py``); Pulse's container uses that one, which
costs half the CPU per delivery. This one remains for embedders who already run aiohttp.

aiohttp looks host names up through its connector's resolver. This one answers from the
addresses pinned for the current delivery (a context variable set around each request),
so the connection goes to an address that was checked a moment ago and to nothing else:
there is no second lookup for DNS to answer differently (rebinding). The URL keeps the
name, so ``Host`` and TLS (SNI, certificate) are the name's as usual. Literal-address
URLs never reach the resolver and were checked as literals.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from typing import Any

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult

from pulse_adapters.http.answers import (
    CLOSED,
    CONNECTION_FAILED,
    MALFORMED,
    MAX_ANSWER_BYTES,
    TLS_FAILED,
    excerpt,
    retry_after_seconds,
)
from pulse_core.net.hosts import IPAddress
from pulse_core.ports.webhook_sender import (
    DeliveryFailed,
    WebhookRequest,
    WebhookResponse,
    WebhookSender,
)

_PINNED: contextvars.ContextVar[tuple[IPAddress, ...]] = contextvars.ContextVar("pinned")


class _PinnedResolver(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = _PINNED.get(())
        if not addresses:
            # Only reached for a host the delivery did not check: refuse, never look up.
            raise OSError(f"no checked address for {host}")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class AiohttpWebhookSender(WebhookSender):
    """One connection pool for every delivery of the process (``limit`` connections in
    all); sessions are made on first use, inside the running event loop."""

    def __init__(self, *, user_agent: str, limit: int = 100) -> None:
        self._user_agent = user_agent
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=_PinnedResolver(), use_dns_cache=False, limit=self._limit
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self._user_agent},
                auto_decompress=False,
                # One session serves every tenant: a cookie one endpoint's answer sets
                # must never ride along with another delivery (nor with its own next).
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        token = _PINNED.set(request.addresses)
        head: WebhookResponse | None = None  # the answer without its body, once it came
        try:
            async with asyncio.timeout(request.timeout_seconds):
                async with self._client().post(
                    request.url,
                    data=request.body,
                    headers=request.headers,
                    allow_redirects=False,
                ) as response:
                    head = WebhookResponse(
                        status_code=response.status,
                        retry_after_seconds=retry_after_seconds(
                            response.headers.get("Retry-After")
                        ),
                    )
                    answer = await response.content.read(MAX_ANSWER_BYTES)
                    return msgspec.structs.replace(head, excerpt=excerpt(answer))
        except TimeoutError:
            if head is not None:  # the status came in time, its body did not
                return head
            raise DeliveryFailed(f"no answer within {request.timeout_seconds:g} s") from None
        except aiohttp.ClientSSLError:
            raise DeliveryFailed(TLS_FAILED) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryFailed(_reason(exc)) from None
        finally:
            _PINNED.reset(token)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _reason(exc: Any) -> str:
    # Connection errors name the address connected to; keep the customer-facing reason
    # to its kind, which says what to fix without echoing the operator's network.
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CONNECTION_FAILED
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return CLOSED
    if isinstance(exc, aiohttp.ClientPayloadError):
        return MALFORMED
    return type(exc).__name__

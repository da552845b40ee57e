"""Outbound HTTP: webhook deliveries. :class:`AsyncioWebhookSender` is what Pulse uses;
:class:`AiohttpWebhookSender` is the reference it is tested against."""

from pulse_adapters.http.asyncio_sender import AsyncioWebhookSender
from pulse_adapters.http.webhook_sender import AiohttpWebhookSender

__all__ = ["AiohttpWebhookSender", "AsyncioWebhookSender"]

"""Outbound HTTP (aiohttp): webhook deliveries."""

from pulse_adapters.http.webhook_sender import AiohttpWebhookSender

__all__ = ["AiohttpWebhookSender"]

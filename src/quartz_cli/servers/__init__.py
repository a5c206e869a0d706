"""Interface layer: ASGI servers (the read API; the trading agent's WebSocket + HTTP server)."""

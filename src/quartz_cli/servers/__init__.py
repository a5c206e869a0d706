"""Interface layer: ASGI servers (the trading agent's WebSocket + HTTP server)."""

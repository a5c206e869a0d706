"""ASGI servers of the interface layer (the read API; the trading agent's server)."""

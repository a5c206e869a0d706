"""Adapters over Quartz's own servers: the account owner's order executor (`TradingClient`)
and its read API (`RemoteMarketData`, `RemoteAccount`), used by jobs that do not own the
account."""

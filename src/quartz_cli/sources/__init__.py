"""Data sources: the ECOS, FRED and World Bank collectors (async httpx), their in-process
fake endpoints for `local`, and the factory that wires them from the configuration."""

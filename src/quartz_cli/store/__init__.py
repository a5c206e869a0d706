"""Shared state: one `Store` protocol with a local-folder and an S3 backend."""

from quartz_cli.store.base import Store
from quartz_cli.store.factory import open_store

__all__ = ["Store", "open_store"]

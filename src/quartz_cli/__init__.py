"""Quartz: trade Korean stocks through the KIS Open API, decided by six cooperating agents."""

__version__ = "0.1.0"

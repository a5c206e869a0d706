"""Loopback servers that stand in for external systems in tests (real protocols, local ports)."""

"""Adapters for external data sources (news sites, statistics APIs)."""

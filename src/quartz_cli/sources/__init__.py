"""Adapters for external data sources: news sites (`sources.news`) and the ECOS, FRED and
World Bank collectors, with their in-process fake endpoints for `local`."""

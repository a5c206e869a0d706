"""The envelope every agent's output document carries."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, field_validator


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (stored documents are always UTC)."""
    return datetime.now(UTC)


class Document(BaseModel):
    """Base of stored documents: `schema_version`, `produced_at` (UTC) and `env`."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    produced_at: datetime
    env: str

    @field_validator("produced_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("produced_at must be timezone-aware")
        return v.astimezone(UTC)

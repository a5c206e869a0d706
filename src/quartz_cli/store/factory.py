"""Choose the store backend from the configuration."""

from __future__ import annotations

from quartz_cli.config import Config, Env
from quartz_cli.store.base import Store


def open_store(config: Config) -> Store:
    """S3 when `S3_BUCKET_NAME` is set outside `local`, else a folder (`QUARTZ_STORE_DIR`,
    default `$QUARTZ_HOME/store/<env>`)."""
    s = config.settings.store
    if s.s3_bucket_name and config.env is not Env.LOCAL:
        from quartz_cli.store.s3 import S3Store

        return S3Store(
            s.s3_bucket_name,
            region=s.aws_region,
            prefix=config.env.value,
            endpoint_url=s.s3_endpoint_url,
            access_key_id=s.aws_access_key_id.get_secret_value() if s.aws_access_key_id else None,
            secret_access_key=(
                s.aws_secret_access_key.get_secret_value() if s.aws_secret_access_key else None
            ),
        )
    from quartz_cli.store.local import LocalStore

    return LocalStore(s.store_dir or config.home / "store" / config.env.value)

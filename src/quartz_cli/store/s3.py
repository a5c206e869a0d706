"""S3 backend on boto3, with conditional writes (If-None-Match) for put-if-absent."""

from __future__ import annotations

from typing import Any

from quartz_cli.errors import StoreError
from quartz_cli.store.base import check_key


class S3Store:
    """Objects under an optional prefix of one bucket. boto3 is imported on first use."""

    def __init__(
        self,
        bucket: str,
        *,
        region: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.description = f"s3://{bucket}/{self.prefix}"
        self._client_args: dict[str, Any] = {"region_name": region}
        if endpoint_url:
            self._client_args["endpoint_url"] = endpoint_url
        if access_key_id and secret_access_key:
            self._client_args["aws_access_key_id"] = access_key_id
            self._client_args["aws_secret_access_key"] = secret_access_key
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            self._client = boto3.client(
                "s3",
                config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"},
                                  connect_timeout=5, read_timeout=15),
                **self._client_args,
            )
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, action: str, key: str, exc: Exception) -> StoreError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return StoreError(f"cannot {action} {key} in {self.description}: {code}")

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return resp["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("read", key, exc) from None
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from None

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write", key, exc) from None

    def put_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   ContentType="application/json", IfNoneMatch="*")
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            raise self._fail("write", key, exc) from None
        except BotoCoreError as exc:
            raise self._fail("write", key, exc) from None

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("delete", key, exc) from None

    def list(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for obj in page.get("Contents", []):
                    keys.append(obj["Key"][len(self.prefix):])
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", prefix or "/", exc) from None
        return sorted(keys)

    def ping(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("reach bucket", self.bucket, exc) from None

"""The S3 backend against moto's server mode on loopback (a real S3 HTTP endpoint)."""

import pytest

from fakes.server import free_port
from quartz_cli.errors import StoreError
from quartz_cli.store.s3 import S3Store
from test_store import exercise


def make(url, bucket, create=True):
    store = S3Store(bucket, region="ap-northeast-2", prefix="paper", endpoint_url=url,
                    access_key_id="testing", secret_access_key="testing")
    if create:
        store.client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    return store


def test_s3_store_contract(s3_url):
    store = make(s3_url, "quartz-contract")
    exercise(store)
    store.ping()
    raw = store.client.list_objects_v2(Bucket="quartz-contract")["Contents"]
    assert all(o["Key"].startswith("paper/") for o in raw)


def test_conditional_write_has_one_winner(s3_url):
    from concurrent.futures import ThreadPoolExecutor

    store = make(s3_url, "quartz-claims")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: store.put_if_absent("orders/claims/r1.json",
                                                              str(i).encode()), range(16)))
    assert results.count(True) == 1


def test_missing_bucket_and_dead_endpoint_are_store_errors(s3_url):
    with pytest.raises(StoreError, match="reach bucket"):
        make(s3_url, "no-such-bucket", create=False).ping()
    dead = S3Store("b", region="ap-northeast-2", endpoint_url=f"http://127.0.0.1:{free_port()}",
                   access_key_id="testing", secret_access_key="testing")
    with pytest.raises(StoreError):
        dead.get("x.json")
    with pytest.raises(StoreError):
        dead.put("x.json", b"1")

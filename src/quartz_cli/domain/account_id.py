"""The name of an account in files, leases, logs and metrics: a short keyed hash, never the
account number. An 8-digit account number is easy to recover from a plain hash (there are
only 10^8 of them), so the hash is keyed with a secret every owner of the account already has
(the broker app secret): only those who could trade the account can tell which one it is."""

from __future__ import annotations

import hashlib
import hmac

ACCOUNT_KEY_CHARS = 12


def account_key(env: str, number: str, product: str, secret: str) -> str:
    """12 hex characters naming (environment, account number, product code), keyed by
    `secret`. The same account gives the same key on every host that shares the secret."""
    message = f"quartz-account:{env}:{number}:{product}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return digest[:ACCOUNT_KEY_CHARS]

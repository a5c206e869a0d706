"""The internal bearer token that the trading server, the read API and their clients share:
its rules (long enough to be a secret) and where it comes from (QUARTZ_INTERNAL_TOKEN, or in
`local` a random one kept under `$QUARTZ_HOME/trading/`)."""

from __future__ import annotations

from quartz_cli.app.ownership import trading_dir
from quartz_cli.config import Config, Env
from quartz_cli.errors import ConfigError
from quartz_cli.redaction import register_secret

MIN_TOKEN_CHARS = 32


def check_internal_token(token: str | None, *, server: str) -> str:
    """`token` if it is long enough to be a shared secret; ConfigError otherwise."""
    if not token:
        raise ConfigError(f"QUARTZ_INTERNAL_TOKEN is empty: the {server} will not serve "
                          "without a bearer token",
                          hint="set it to a long random string, e.g. `python3 -c 'import "
                          "secrets; print(secrets.token_urlsafe(32))'`")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"QUARTZ_INTERNAL_TOKEN is too short ({len(token)} characters; "
                          f"the {server} needs at least {MIN_TOKEN_CHARS})",
                          hint="`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'` "
                          "makes one")
    return token


def internal_token(config: Config, *, create: bool = False) -> str:
    """The shared bearer token: QUARTZ_INTERNAL_TOKEN, or in `local` only a random one kept
    in `$QUARTZ_HOME/trading/internal-token` (0600) that `trade serve` creates and the CLI
    reads. Elsewhere a missing token is a ConfigError."""
    settings = config.settings.servers
    if settings.internal_token is not None:
        return check_internal_token(settings.internal_token.get_secret_value(),
                                    server="trading server")
    if config.env is not Env.LOCAL:
        raise ConfigError("QUARTZ_INTERNAL_TOKEN is not set",
                          hint="the trading server and its clients share this bearer token")
    path = trading_dir(config) / "internal-token"
    if path.exists():
        token = check_internal_token(path.read_text().strip(), server="trading server")
    elif create:
        import os
        import secrets

        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
    else:
        raise ConfigError("no trading server token: set QUARTZ_INTERNAL_TOKEN or start "
                          "`quartz trade serve` first (it creates one for local)")
    register_secret(token)
    return token

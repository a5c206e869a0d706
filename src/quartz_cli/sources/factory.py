"""Wire the macro collectors from the configuration.

`local` talks to the in-process fakes (sample data, no keys, no network) unless a
`QUARTZ_*_BASE_URL` points a source elsewhere (a loopback fake in tests). `paper`/`prod` talk
to the real services; a source whose key is unset is reported missing, naming the variable."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import httpx

from quartz_cli.config import Config, Env
from quartz_cli.domain.macro import SOURCES, specs_of
from quartz_cli.errors import ConfigError
from quartz_cli.ports import Collected, Collector
from quartz_cli.sources import ecos, fakes, fred, worldbank
from quartz_cli.sources.http import Retry, SeriesError


class KeyMissing:
    """A source that cannot be asked because its API key is unset: every series fails with
    a message naming the variable."""

    def __init__(self, source: str, variable: str) -> None:
        self.source = source
        self._variable = variable

    def series_ids(self) -> list[str]:
        return [s.id for s in specs_of(self.source)]

    async def collect(self, start: date, end: date) -> Collected:
        err = SeriesError(self.source, "all series", f"{self._variable} is not set")
        return Collected(series={}, errors=dict.fromkeys(self.series_ids(), err))


@dataclass
class Collectors:
    """The wired collectors, whether they serve sample data, and the clients to close."""

    collectors: list[Collector]
    sample_data: bool
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def fake_failures(config: Config) -> set[str]:
    """The sources QUARTZ_MACRO_FAKE_FAIL makes fail (local only)."""
    raw = {s.strip().lower() for s in config.settings.macro.fake_fail.split(",") if s.strip()}
    if not raw:
        return set()
    if config.env is not Env.LOCAL:
        raise ConfigError("QUARTZ_MACRO_FAKE_FAIL drills degraded mode against the sample fakes "
                          f"and is only allowed in local, not in {config.env.value}")
    unknown = raw - set(SOURCES)
    if unknown:
        raise ConfigError(f"QUARTZ_MACRO_FAKE_FAIL: unknown source(s) {', '.join(sorted(unknown))}"
                          f" (choose from {', '.join(SOURCES)})")
    return raw


def open_collectors(config: Config) -> Collectors:
    """The three collectors for `config.env`."""
    s = config.settings.macro
    timeout = httpx.Timeout(config.settings.broker.http_timeout_s, connect=5.0)
    local = config.env is Env.LOCAL
    failing = fake_failures(config)
    clients: list[httpx.AsyncClient] = []
    sample = False

    def client(source: str, base_url: str | None) -> httpx.AsyncClient:
        nonlocal sample
        if local and base_url is None:
            sample = True
            app = {"ecos": fakes.ecos_app, "fred": fakes.fred_app,
                   "worldbank": fakes.worldbank_app}[source](failing=source in failing)
            c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=timeout)
        else:
            c = httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        clients.append(c)
        return c

    # In-process fakes answer at once; real services get a gentler backoff.
    retry = Retry(attempts=3, base_delay_s=0.05 if local else 1.0)
    fake_base = {"ecos": "http://ecos.local-sample/api", "fred": "http://fred.local-sample/fred",
                 "worldbank": "http://worldbank.local-sample/v2"}
    collectors: list[Collector] = []

    ecos_key = s.ecos_api_key.get_secret_value() if s.ecos_api_key else None
    if ecos_key is None and not local:
        collectors.append(KeyMissing("ecos", "ECOS_API_KEY"))
    else:
        collectors.append(ecos.EcosCollector(
            client("ecos", s.ecos_base_url), ecos_key or fakes.SAMPLE_KEY,
            base_url=s.ecos_base_url or (fake_base["ecos"] if local else ecos.BASE_URL),
            retry=retry))

    fred_key = s.fred_api_key.get_secret_value() if s.fred_api_key else None
    if fred_key is None and not local:
        collectors.append(KeyMissing("fred", "FRED_API_KEY"))
    else:
        collectors.append(fred.FredCollector(
            client("fred", s.fred_base_url), fred_key or fakes.SAMPLE_KEY,
            base_url=s.fred_base_url or (fake_base["fred"] if local else fred.BASE_URL),
            retry=retry))

    collectors.append(worldbank.WorldBankCollector(
        client("worldbank", s.worldbank_base_url),
        base_url=s.worldbank_base_url or (fake_base["worldbank"] if local else worldbank.BASE_URL),
        retry=retry))
    return Collectors(collectors=collectors, sample_data=sample, _clients=clients)

"""Composition root, the listings: KIS's master files downloaded into
`$QUARTZ_HOME/universe.csv` (from the simulator in `local`), and the codes the universe
setting (`QUARTZ_UNIVERSE`) names."""

from __future__ import annotations

from pathlib import Path

from quartz_cli.config import Config, Env
from quartz_cli.domain.universe import Universe, chosen_codes, load_universe_csv
from quartz_cli.errors import ConfigError, InputError
from quartz_cli.kis.master import MasterRecord


async def download_masters(config: Config) -> list[MasterRecord]:
    """Every record of the KOSPI and KOSDAQ master files, from QUARTZ_KIS_MASTER_URL, else
    the simulator in `local` (in-process, or on loopback at QUARTZ_KIS_BASE_URL), else KIS's
    download host."""
    from quartz_cli.app.runtime import http_client, local_simulator
    from quartz_cli.kis.endpoints import endpoint_for
    from quartz_cli.kis.master_download import MASTER_URL, download_master
    from quartz_cli.sim.master_routes import MASTER_PATH

    endpoint = endpoint_for(config)
    sim = local_simulator(config) if endpoint.in_process else None
    url = config.settings.universe.master_url
    if url is None:
        url = endpoint.base_url + MASTER_PATH if endpoint.env is Env.LOCAL else MASTER_URL
    async with http_client(config, endpoint, sim) as http:
        records = await download_master(http, url, "KOSPI")
        records += await download_master(http, url, "KOSDAQ")
    return records


def universe_codes(config: Config, universe: Universe) -> list[str] | None:
    """The codes QUARTZ_UNIVERSE names in `universe` (None: the selection's candidates)."""
    try:
        return chosen_codes(config.settings.universe.choice, universe)
    except InputError as exc:
        raise ConfigError(f"QUARTZ_UNIVERSE: {exc.message}") from None


#: `$QUARTZ_HOME/delisted.csv`: listings a refresh found gone, with the refresh's date as
#: their delisting (a backtest keeps them in their past: no survivorship).
DELISTED_FILE = "delisted.csv"


def delisted_universe(home: Path) -> Universe:
    """The listings known to be delisted (empty when none was ever seen to go)."""
    path = home / DELISTED_FILE
    return load_universe_csv(path) if path.exists() else Universe([])


def keep_delistings(config: Config, current: Universe) -> int:
    """Before `current` replaces `$QUARTZ_HOME/universe.csv`: add the listings it no longer
    has to `delisted.csv`, delisted on today's market date. Returns how many are known."""
    from quartz_cli.agents.selection import UNIVERSE_FILE
    from quartz_cli.domain.krx import kst_date
    from quartz_cli.kis.master import delistings, write_universe_csv

    path = config.home / UNIVERSE_FILE
    previous = load_universe_csv(path) if path.exists() else Universe([])
    gone = delistings(previous, current, delisted_universe(config.home),
                      kst_date(config.market_now()))
    if len(gone) or (config.home / DELISTED_FILE).exists():
        write_universe_csv(gone, config.home / DELISTED_FILE)
    return len(gone)

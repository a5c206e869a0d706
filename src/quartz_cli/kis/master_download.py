"""Download KIS's stock master files (`kospi_code.mst.zip`, `kosdaq_code.mst.zip`) from its
download host (`QUARTZ_KIS_MASTER_URL`; in `local`, the simulator serves them) and parse
them (`kis/master.py`). The host needs no token and is outside the REST rate limit."""

from __future__ import annotations

import httpx

from quartz_cli.errors import BrokerUnavailable
from quartz_cli.kis.master import MasterRecord, parse_master

MASTER_URL = "https://new.real.download.dws.co.kr/common/master"
FILES = {"KOSPI": "kospi_code.mst.zip", "KOSDAQ": "kosdaq_code.mst.zip"}


async def download_master(http: httpx.AsyncClient, base_url: str,
                          market: str) -> list[MasterRecord]:
    """The records of one market's master file, fetched from `base_url`."""
    url = f"{base_url.rstrip('/')}/{FILES[market]}"
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        raise BrokerUnavailable(f"cannot download the {market} master file from {url}: "
                                f"{type(exc).__name__}") from None
    if response.status_code != 200:
        raise BrokerUnavailable(f"the {market} master file at {url} answered HTTP "
                                f"{response.status_code}")
    return parse_master(response.content, market, url)

"""KIS's download host as the simulator serves it: the stock master files
(`/common/master/kospi_code.mst.zip`, `/common/master/kosdaq_code.mst.zip`, no token, as on
`new.real.download.dws.co.kr`). Their listings come from `sim/master_files.py`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from quartz_cli.sim.master_files import FILES, master_zip

if TYPE_CHECKING:
    from quartz_cli.sim.simulator import Simulator

MASTER_PATH = "/common/master"


def routes(sim: Simulator) -> list[Route]:
    by_file = {name: market for market, name in FILES.items()}

    async def master(request: Request) -> Response:
        market = by_file.get(request.path_params["name"])
        if market is None:
            return PlainTextResponse("Not Found", status_code=404)
        sim.state.bump("master_downloads")
        body = master_zip(market, sim.master_listings(), sim.market_seed)
        return Response(body, media_type="application/zip")

    return [Route(MASTER_PATH + "/{name}", master, methods=["GET"])]

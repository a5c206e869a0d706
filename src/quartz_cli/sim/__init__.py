"""A KIS-compatible exchange simulator (ASGI), used by `local` and by the tests."""

from quartz_cli.sim.config import SimConfig
from quartz_cli.sim.simulator import Simulator
from quartz_cli.sim.state import SimState

__all__ = ["SimConfig", "SimState", "Simulator"]

"""The simulated broker, the embedded default: a paper account kept in its own SQLite file,
filling market orders against the minute bars the engine delivers, with an optional fault
mode that exercises reconciliation."""

from tbot.broker.sim.errors import SimStateError
from tbot.broker.sim.faults import SimFault
from tbot.broker.sim.settings import SimBrokerSettings
from tbot.broker.sim.sim_broker import SimBroker

__all__ = ["SimBroker", "SimBrokerSettings", "SimFault", "SimStateError"]

"""The SMSC simulator: an SMSC with personalities, used by the demo and the tests.

    from smpp.sim import SimulatorConfig, SmscPersonality, start_simulator

    sim = await start_simulator(SimulatorConfig(smscs=kenyan_personalities()))
    sim.address("safaricom")                  # (host, port)
    await sim.wait_for_submits(100, timeout=5)
    sim.records("safaricom").max_slot         # what the SMSC saw
    await sim.inject_mo("safaricom", "254712345678", "22384", "STOP")
    await sim.close()

`python -m smpp.sim --help` runs it on its own.
"""

from smpp.sim.config import (
    BindMode,
    Credential,
    IdFormat,
    Latency,
    ReceiptPolicy,
    SimulatorConfig,
    SmscPersonality,
    ThrottleKind,
    ThrottleRule,
    kenyan_personalities,
)
from smpp.sim.records import BindRecord, SmscRecord, SubmitRecord
from smpp.sim.simulator import Simulator, start_simulator

__all__ = [
    "BindMode",
    "BindRecord",
    "Credential",
    "IdFormat",
    "Latency",
    "ReceiptPolicy",
    "Simulator",
    "SimulatorConfig",
    "SmscPersonality",
    "SmscRecord",
    "SubmitRecord",
    "ThrottleKind",
    "ThrottleRule",
    "kenyan_personalities",
    "start_simulator",
]

"""What every emulator shares: the admin API, fault injection, request stats, clock, TLS and serving."""

from emulators.core.backend import EmulatorBackend, UnknownObjectError
from emulators.core.clock import EmulatorClock
from emulators.core.faults import Fault, FaultInjector, FaultKind
from emulators.core.stats import RequestStats

__all__ = [
    "EmulatorBackend",
    "EmulatorClock",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "RequestStats",
    "UnknownObjectError",
]

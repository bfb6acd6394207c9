"""Which backend class emulates which system (imported lazily: each sandbox process loads only its own)."""

from __future__ import annotations

import importlib

from emulators.core.backend import EmulatorBackend

SYSTEMS: dict[str, str] = {
    "intacct": "emulators.intacct.backend:IntacctBackend",
    "salesforce": "emulators.salesforce.backend:SalesforceBackend",
    "quickbooks": "emulators.quickbooks.backend:QuickBooksBackend",
    "esp": "emulators.esp.backend:EspBackend",
}


def backend_class(system: str) -> type[EmulatorBackend]:
    try:
        module_name, class_name = SYSTEMS[system].split(":")
    except KeyError:
        raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def create_backend(system: str) -> EmulatorBackend:
    return backend_class(system)()

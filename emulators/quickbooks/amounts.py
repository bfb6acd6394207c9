"""Money as QBO keeps it (rounded to cents) and the home currency ref, shared by the model and the receivables."""

from __future__ import annotations

USD = {"value": "USD", "name": "United States Dollar"}
CENT = 0.005  # below half a cent two amounts are the same money


def money(value: float) -> float:
    return round(value + 0.0, 2)

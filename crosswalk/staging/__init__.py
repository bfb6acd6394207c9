"""The staging store: every table Crosswalk keeps between stages and between runs."""

from crosswalk.staging.store import RawRecord, StagingStore, StoreUnavailable, WriteCounts

__all__ = ["RawRecord", "StagingStore", "StoreUnavailable", "WriteCounts"]

"""The staging store: every table Crosswalk keeps between stages and between runs."""

from crosswalk.staging.store import RawRecord, StagingStore, WriteCounts

__all__ = ["RawRecord", "StagingStore", "WriteCounts"]

"""The extract stage: streams (one object of one system), the shared paging/retry/staging loop, and run results."""

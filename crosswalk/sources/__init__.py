"""One client per external system, each implementing the extract stage's StreamSource, and each system's streams."""

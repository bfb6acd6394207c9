"""Software-defined assets (thin: they call crosswalk's stages and report metadata) and their checks."""

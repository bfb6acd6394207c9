"""Where Crosswalk finds its staging database and configuration when nothing else is said."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "CROSSWALK_DATABASE_URL"
CONFIG_ENV = "CROSSWALK_CONFIG"
HOME_ENV = "CROSSWALK_HOME"
# running | stopped: whether the schedules and sensors start by themselves (pipelines/schedules.py).
AUTOMATION_ENV = "CROSSWALK_AUTOMATION"


def crosswalk_home() -> Path:
    """Directory for embedded defaults (SQLite staging file); `.crosswalk` under the working directory unless set."""
    return Path(os.environ.get(HOME_ENV) or Path.cwd() / ".crosswalk")


def default_database_url() -> str:
    return f"sqlite:///{crosswalk_home() / 'staging.sqlite'}"


def database_url_from_env() -> str:
    return os.environ.get(DATABASE_URL_ENV) or default_database_url()


def redact_url(url: str) -> str:
    """A database URL safe to log: the password, if any, replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"

"""The staging store's Alembic environment: env.py and one revision per schema version in versions/."""

"""hwmgr's own database: its own metadata and Alembic history, shared engine helpers."""

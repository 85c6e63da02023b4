"""The store: tables, the engine, migrations and every SQL statement triaged runs.

Layer 2 (STYLE-ANCHORS §7): imports only `triaged.domain`, `triaged.errors`,
`triaged.clock`, the standard library, SQLModel/SQLAlchemy and Alembic.
"""

"""The store: tables, the engine, migrations and every SQL statement triaged runs.

It imports only `triaged.domain`, the standard library, SQLModel/SQLAlchemy and
Alembic, never a use case: what to store and when to commit is the caller's.
"""

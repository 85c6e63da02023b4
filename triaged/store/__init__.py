"""The store: tables, the engine, migrations and every SQL statement triaged runs.

`models` is the schema's one home. Writes go through SQLAlchemy Core on the
caller's `Connection` (`rows`, `outbox_rows`, `letter_claims`, `letter_fates`,
`quarantine_rows`, `cursor_rows`, `approval_rows`, `ladder_rows`…), inside the
caller's transaction: the use cases own transactions, the store never commits on
its own. Imports only
`triaged.domain`, `triaged.domain.mailbox_key`, the standard library,
SQLModel/SQLAlchemy and Alembic; it knows nothing of the use cases.
"""

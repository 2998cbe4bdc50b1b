"""The database: where it is (``DATABASE_URL`` or the embedded cluster), engines and the
application role (:mod:`.engine`), the project-local PostgreSQL + PostGIS (:mod:`.cluster`) and
the Alembic migrations of the whole product's schema (``migrations/``)."""

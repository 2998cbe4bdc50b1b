"""Alembic environment: runs on the connection handed over by ``weijian.db.engine.migrate``.

The schema is written by hand in the migrations (SQL and ``op`` calls: triggers, generated
columns, roles and grants that no model describes), so there is no ``target_metadata`` and
``alembic revision --autogenerate`` is refused: it would otherwise propose dropping every table
it does not know. A migration never imports the application; the defaults it seeds are frozen
in a data file beside it.
"""

from alembic import context
from sqlalchemy import create_engine

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # plain `alembic` invocation: url from the config
    engine = create_engine(config.attributes.get("url") or config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=None)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=None)
    context.run_migrations()

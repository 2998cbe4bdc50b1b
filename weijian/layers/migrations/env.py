"""Alembic environment: runs on the connection handed over by ``weijian.database.migrate``."""

from alembic import context
from sqlalchemy import create_engine

from weijian.layers.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # plain `alembic` invocation: url from the config
    engine = create_engine(config.attributes.get("url") or config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata)
    context.run_migrations()

"""One settings class for the whole product, read once from the environment.

Variables carry the ``WEIJIAN_`` prefix, except ``DATABASE_URL`` which other systems already set.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the checkout (or installation) root: the folder that holds the ``weijian`` package
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIJIAN_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "WEIJIAN_DATABASE_URL"),
        description="SQLAlchemy URL of an existing PostGIS; unset → the embedded cluster",
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".weijian",
        description="state of the embedded cluster and other local files (git-ignored)",
    )
    samples_dir: Path = Field(default=PROJECT_ROOT / "data" / "samples")
    shared_data_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data",
        description="third-party reference data (Baishan districts, DBF cases), when present",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: int = 512


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

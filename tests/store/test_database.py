"""Choosing the database, and the settings that make an acknowledged write durable."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import connect, resolve_url
from ketamine_ptsd.store.database import ENV_VAR


class TestResolveUrl:
    def test_explicit_wins_over_the_environment(self, monkeypatch):
        monkeypatch.setenv(ENV_VAR, "sqlite:///from-env.sqlite")
        assert resolve_url("sqlite:///explicit.sqlite") == "sqlite:///explicit.sqlite"
        assert resolve_url() == "sqlite:///from-env.sqlite"

    def test_default_is_sqlite_in_the_user_data_folder(self, monkeypatch):
        monkeypatch.delenv(ENV_VAR, raising=False)
        url = resolve_url()
        assert url.startswith("sqlite:///")
        assert Path(url.removeprefix("sqlite:///")).parent == Path(platformdirs.user_data_dir("ketamine-ptsd"))

    @pytest.mark.parametrize("given", ["postgresql://u@db:5432/clinic", "postgres://u@db:5432/clinic"])
    def test_postgresql_gets_psycopg3(self, given):
        assert resolve_url(given) == "postgresql+psycopg://u@db:5432/clinic"

    def test_a_bare_path_is_an_sqlite_file(self, tmp_path):
        assert resolve_url(str(tmp_path / "r.sqlite")) == f"sqlite:///{tmp_path / 'r.sqlite'}"

    @pytest.mark.parametrize("given", ["mysql://u@h/db", "://no-database-named"])
    def test_unsupported(self, given):
        with pytest.raises(InputError, match="^database"):
            resolve_url(given)


def test_durability_settings(db_url):
    engine = connect(db_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                          for name in ("journal_mode", "synchronous", "foreign_keys")}
                assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}  # 2 = FULL
            else:
                assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
                assert connection.exec_driver_sql("SHOW fsync").scalar() == "on"
    finally:
        engine.dispose()

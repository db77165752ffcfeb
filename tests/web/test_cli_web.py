"""The ``user`` commands: the password comes from standard input and is kept as an argon2
hash; ``--admin`` makes the first admin; bad input is refused with the field named."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from ketamine_ptsd.cli_web import user_app
from ketamine_ptsd.errors import InputError
from ketamine_ptsd.store import Records


@pytest.fixture
def cli():
    app = typer.Typer()
    app.add_typer(user_app, name="user")
    return app


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'records.sqlite'}"


def test_user_add_reads_the_password_from_stdin(cli, db):
    result = CliRunner().invoke(cli, ["user", "add", "dr_lee", "--role", "clinician", "--db", db],
                                input="clinic-password-1\n")
    assert result.exit_code == 0, result.output
    assert "dr_lee (clinician)" in result.output and "clinic-password-1" not in result.output
    with Records.open(db, actor="test") as records:
        assert records.authenticate("dr_lee", "clinic-password-1").role == "clinician"
        assert records.authenticate("dr_lee", "clinic-password-1\n") is None


def test_first_admin_with_admin_flag(cli, db):
    result = CliRunner().invoke(cli, ["user", "add", "--admin", "--db", db], input="first-admin-pw\n")
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["user", "list", "--db", db])
    assert listed.output.split("\t")[:2] == ["admin", "admin"] and "argon2" not in listed.output


@pytest.mark.parametrize("args, stdin, field", [
    (["user", "add", "x", "--role", "clinician"], "short\n", "password"),
    (["user", "add", "x", "--role", "superuser"], "long-enough-pw\n", "--role"),
    (["user", "add", "x", "--admin", "--role", "readonly"], "long-enough-pw\n", "--role"),
    (["user", "add", "x"], "long-enough-pw\n", "--role"),
])
def test_bad_input_names_the_field_and_adds_nobody(cli, db, args, stdin, field):
    result = CliRunner().invoke(cli, [*args, "--db", db], input=stdin)
    assert isinstance(result.exception, InputError) and result.exception.field == field
    with Records.open(db, actor="test") as records:
        assert records.authenticate("x", stdin.strip()) is None

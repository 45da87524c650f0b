"""Each bad model definition fails before any SQL, naming the model, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.boot.stages import BootError, boot
from mega.data.migrations.generate import generate
from mega.errors import MegaError

from .conftest import write_models

GOOD_USER = """
class User(Model):
    id = fields.id()
    email = fields.string(255, unique=True)
"""

CASES = {
    "unknown kind": ("""
class Thing(Model):
    id = fields.id()
    size = fields.Field("huge")
""", {"model": "Thing", "field": "size",
    "reason": "unknown kind 'huge'"}),
    "index on a missing column": ("""
class Thing(Model):
    id = fields.id()
    class Meta:
        indexes = [("colour",)]
""", {"model": "Thing", "field": "colour",
    "reason": "index 'ix_things_colour' names column 'colour', which the "
      "model does not have"}),
    "fk to a missing table": ("""
class Thing(Model):
    id = fields.id()
    owner_id = fields.foreign_key("owners.id")
""", {"model": "Thing", "field": "owner_id",
    "reason": "references 'owners.id': no model has table 'owners'"}),
    "fk to a missing column": ("""
class Thing(Model):
    id = fields.id()
    user_id = fields.foreign_key("users.uid")
""", {"model": "Thing", "field": "user_id",
    "reason": "references 'users.uid': model User has no column 'uid'"}),
    "fk to a column that is not unique": ("""
class Thing(Model):
    id = fields.id()
    owner = fields.string(10, references="users.name")
""", {"model": "Thing", "field": "owner",
    "reason": "references 'users.name', which is neither the primary key "
      "nor unique"}),
    "default of the wrong type": ("""
class Thing(Model):
    id = fields.id()
    amount = fields.integer(default="many")
""", {"model": "Thing", "field": "amount",
    "reason": "default 'many' is not an integer (kind 'integer')"}),
    "default not among the choices": ("""
class Thing(Model):
    id = fields.id()
    state = fields.enum(["on", "off"], default="maybe")
""", {"model": "Thing", "field": "state",
    "reason": "default 'maybe' is not one of ['on', 'off'] (kind 'enum')"}),
    "no primary key": ("""
class Thing(Model):
    label = fields.string(10)
""", {"model": "Thing", "field": None,
    "reason": "no primary key: declare one, e.g. id = fields.id()"}),
    "partition column outside the primary key": ("""
class Log(Model):
    id = fields.id()
    created_at = fields.datetime()
    class Meta:
        partition = {"column": "created_at", "interval": "month"}
""", {"model": "Log", "field": "created_at",
    "reason": "the primary key must include the partition column "
      "(postgres requires it): declare it with primary_key=True"}),
    "partition on a text column": ("""
class Log(Model):
    id = fields.id()
    day = fields.string(10, primary_key=True)
    class Meta:
        partition = {"column": "day", "interval": "week"}
""", {"model": "Log", "field": None,
    "reason": "Meta.partition interval 'week' is not supported (intervals: "
      "month)"}),
}
GOOD_USER_WITH_NAME = GOOD_USER + "    name = fields.string(10)\n"


@pytest.mark.parametrize("case", list(CASES))
def test_bad_model_is_named(project: Path, case: str) -> None:
    source, problem = CASES[case]
    write_models(project, GOOD_USER_WITH_NAME, name="user")
    write_models(project, source, name="thing")
    with pytest.raises(MegaError) as info:
        generate(project, "init")
    error = info.value
    assert error.code == "model.invalid"
    assert any(p["model"] == problem["model"] and p["field"] == problem["field"]
               and p["reason"].startswith(problem["reason"]) for p in error.details["problems"])
    where = f"{problem['model']}.{problem['field']}" if problem["field"] else problem["model"]
    assert f"{where}: {problem['reason']}" in error.message
    assert not (project / ".mega").exists() and not (project / "apps/main/migrations").exists()


def test_every_problem_is_reported_at_once(project: Path) -> None:
    write_models(project, """
        class Thing(Model):
            size = fields.Field("huge")
            amount = fields.integer(default=1.5)
        """)
    with pytest.raises(MegaError) as info:
        generate(project, "init")
    assert [(p["field"], p["reason"].split(" ")[0]) for p in info.value.details["problems"]] == [
        (None, "no"), ("size", "unknown"), ("amount", "default")]
    assert info.value.message.startswith("3 problems in the models:\n  Thing: no primary key")


def test_two_models_on_one_table(project: Path) -> None:
    write_models(project, GOOD_USER, name="user")
    write_models(project, GOOD_USER.replace("class User(Model):", "class Member(Model):\n    class Meta:\n"
                                            "        table = 'users'\n"), name="member")
    with pytest.raises(MegaError) as info:
        generate(project, "init")
    assert info.value.code == "model.invalid"
    assert ("apps.main.models.user.User: table 'users' is already the table of "
            "apps.main.models.member.Member") in info.value.message


async def test_boot_fails_on_a_bad_model(project: Path) -> None:
    write_models(project, CASES["fk to a missing table"][0])
    with pytest.raises(BootError) as info:
        await boot(project, environ={"MEGA_ENV": "test"})
    assert info.value.stage == "models"
    assert isinstance(info.value.original, MegaError) and info.value.original.code == "model.invalid"
    assert "Thing.owner_id: references 'owners.id': no model has table 'owners'" in info.value.message


async def test_boot_keeps_the_valid_models(project: Path) -> None:
    write_models(project, GOOD_USER)
    runtime = await boot(project, environ={"MEGA_ENV": "test"})
    try:
        assert [m.__name__ for m in runtime.models] == ["User"]
    finally:
        await runtime.close()

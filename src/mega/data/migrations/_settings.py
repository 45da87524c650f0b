"""The `migrations` config section (mega_config.py only): what boot does about each database's schema.

    migrations = {"allow_pending": True}   # start with unapplied migrations (a warning is logged)
    migrations = {"check": False}          # no check at boot (a schema managed outside mega)

`allow_pending` also comes from MEGA_ALLOW_PENDING_MIGRATIONS, for deployments that migrate in a
separate step. The boot stage reads the validated values (`config.values["migrations"]`), so the
`mega db:*` commands can turn the check off with a boot override.
"""

from __future__ import annotations

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import GLOBAL, register_section

__all__ = ["ALLOW_PENDING_ENV", "MIGRATIONS"]

ALLOW_PENDING_ENV = "MEGA_ALLOW_PENDING_MIGRATIONS"

MIGRATIONS = Section(
    {
        "allow_pending": Leaf(c.boolean, const(False), env_var=ALLOW_PENDING_ENV),
        "check": Leaf(c.boolean, const(True)),
    }
)

register_section("migrations", MIGRATIONS, scope=GLOBAL)

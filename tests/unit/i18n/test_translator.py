"""The translator's memory of warned keys stays bounded for the life of the process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from mega.i18n import _translator
from mega.i18n._settings import DEFAULT
from mega.i18n._translator import build_translator


def test_warnings_stop_at_the_cap_with_one_last_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: Any) -> None:
    monkeypatch.setattr(_translator, "MAX_WARNED", 3)
    catalog = tmp_path / "en.json"
    catalog.write_text('{"a": "A"}')
    problems: list[Any] = []
    translator = build_translator(DEFAULT, [catalog], tmp_path, logging.getLogger("mega.test.i18n"), problems)
    assert problems == [] and translator is not None

    with caplog.at_level(logging.WARNING, logger="mega.test.i18n"):
        texts = [translator.translate("en", f"k{n}", None, {}) for n in range(10)]
        assert translator.translate("en", "a", None, {}) == "A"

    assert texts == [f"k{n}" for n in range(10)]
    assert [r.getMessage() for r in caplog.records] == [
        "i18n: key 'k0' is in no catalog of 'en': the key itself is used",
        "i18n: key 'k1' is in no catalog of 'en': the key itself is used",
        "i18n: key 'k2' is in no catalog of 'en': the key itself is used",
        "i18n: 3 keys warned about; further missing keys are not logged",
    ]
    assert len(translator._warned) == 3

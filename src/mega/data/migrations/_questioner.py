"""Who answers the differ's questions: is this dropped-and-added pair a rename?

A rename is never guessed. `--rename` answers in advance; in a terminal the user is asked; otherwise
there is no answer and the pair stays a drop and an add (the generator prints a warning).
"""

from __future__ import annotations

from collections.abc import Callable


class Questioner:
    """No answers: every candidate rename stays a drop plus an add."""

    def ask_rename(self, what: str, old: str, new: str) -> bool | None:
        """`what` is "table" or "column"; `old`/`new` are names (`table.column` for columns)."""
        return None


class InteractiveQuestioner(Questioner):
    """Asks y/N in the terminal."""

    def __init__(self, confirm: Callable[[str], bool] | None = None) -> None:
        self._confirm = confirm or _click_confirm

    def ask_rename(self, what: str, old: str, new: str) -> bool | None:
        return self._confirm(f"Did you rename {what} {old} to {new}?")


class ScriptedQuestioner(Questioner):
    """Answers from a dict {(what, old, new): bool} (tests, scripted tools); records the questions."""

    def __init__(self, answers: dict[tuple[str, str, str], bool] | None = None) -> None:
        self.answers = dict(answers or {})
        self.asked: list[tuple[str, str, str]] = []

    def ask_rename(self, what: str, old: str, new: str) -> bool | None:
        self.asked.append((what, old, new))
        return self.answers.get((what, old, new))


def _click_confirm(question: str) -> bool:
    import click

    return bool(click.confirm(question, default=False))

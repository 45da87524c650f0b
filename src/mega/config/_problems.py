"""Config problems, and the one error that carries all of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mega._suggest import close_match
from mega.errors import MegaError

__all__ = ["ENVIRONMENT", "PROBLEM_CODES", "ConfigError", "ConfigProblem", "close_match"]

# Every code a ConfigProblem can carry (the error itself is `config.invalid`).
PROBLEM_CODES: tuple[str, ...] = (
    "config.missing_file",
    "config.load_failed",
    "config.invalid_type",
    "config.invalid_value",
    "config.wrong_scope",
    "config.unknown_key",
    "config.unknown_app",
    "config.no_apps",
    "config.duplicate_host",
    "config.duplicate_default",
    "config.not_supported",
    "config.unknown_alias",
    "config.missing_value",
)

# `file` of a problem whose value came from an environment variable (or .env) rather than a file.
ENVIRONMENT = "(environment)"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the project's config: a code, the key, the file, a sentence and a hint."""

    code: str
    key: str
    file: str
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ConfigError(MegaError):
    """The config is invalid; `problems` lists every problem found, in every file."""

    status = 500
    default_code = "config.invalid"

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        # One hint only makes sense for one problem; with several, each problem keeps its own.
        hint = self.problems[0].hint if len(self.problems) == 1 else None
        super().__init__(
            "config.invalid",
            "\n".join(problem.message for problem in self.problems),
            details={"problems": [problem.to_dict() for problem in self.problems]},
            hint=hint,
        )

    def __str__(self) -> str:
        return "\n".join(f"{p.message} (hint: {p.hint})" if p.hint else p.message for p in self.problems)

"""Project config: load mega_config.py and each app's app_config.py, check scopes and schema, fill defaults.

Every problem in every file is collected and raised once, as a `ConfigError`.
"""

from mega.config._dotenv import load_dotenv_file
from mega.config._loader import load_project_config
from mega.config._problems import ConfigError, ConfigProblem
from mega.config._project import AppConfig, ProjectConfig

__all__ = [
    "AppConfig",
    "ConfigError",
    "ConfigProblem",
    "ProjectConfig",
    "load_dotenv_file",
    "load_project_config",
]

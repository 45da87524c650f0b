"""mega: a Python web framework with a CLI: Slim's lightness with Rails' conventions."""

from mega.errors import MegaError

__version__ = "0.1.0"

__all__ = ["MegaError", "__version__"]

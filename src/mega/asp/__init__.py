"""ASP: application-level payload encryption of listed HTTP paths (docs/reference/asp.md).

The server side is configured (`asp` in app_config.py); `Client` is the Python client.
"""

from mega.asp.client import Client, Sealed

__all__ = ["Client", "Sealed"]

"""SQL databases: `SqliteAdapter`, `PostgresAdapter`, `MariaAdapter` (family "db").

See `adapter.py` for the API (query, query_one, execute, transaction, store) and
docs/reference/models.md for models on top of it.
"""

from mega.adapters.sql._transaction import Transaction
from mega.adapters.sql.adapter import SqlAdapter
from mega.adapters.sql.maria import MariaAdapter
from mega.adapters.sql.postgres import PostgresAdapter
from mega.adapters.sql.sqlite import SqliteAdapter

__all__ = ["MariaAdapter", "PostgresAdapter", "SqlAdapter", "SqliteAdapter", "Transaction"]

"""The message bus: `ctx.bus` / `app.bus` (emit, on, request), drivers memory and nats.

See docs/reference/bus.md. Importing this package does not import nats-py.
"""

from mega.bus._errors import BusError
from mega.bus.contract import Bus
from mega.bus.subscription import Message, Subscription

__all__ = ["Bus", "BusError", "Message", "Subscription"]

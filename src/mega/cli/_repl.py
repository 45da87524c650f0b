"""The REPL of `mega console`: an InteractiveConsole whose statements run on the project's loop.

The shape is the stdlib's `python -m asyncio`: the event loop that booted the project runs in the
main thread (so Ctrl-C interrupts the running statement), the prompt reads input in a thread, and
each statement is compiled with top-level await and run as a task on that loop.
"""

from __future__ import annotations

import ast
import asyncio
import code
import concurrent.futures
import contextlib
import inspect
import keyword
import sys
import threading
import traceback
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mega.boot.stages import Runtime

BANNER = """mega console: {apps} booted (env {env}). `await` works here.
names: runtime, apps, get_app, mega, asyncio{extra}. Ctrl-D to quit."""


class AsyncConsole(code.InteractiveConsole):
    """An InteractiveConsole that runs each statement on `loop` and waits for it."""

    def __init__(self, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(namespace, filename="<console>")
        self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self.loop = loop
        self.running: concurrent.futures.Future[Any] | None = None

    def runcode(self, code: types.CodeType) -> None:
        future = asyncio.run_coroutine_threadsafe(self._run(code), self.loop)
        self.running = future
        try:
            future.result()
        except SystemExit:
            raise
        except (concurrent.futures.CancelledError, asyncio.CancelledError, KeyboardInterrupt):
            self.write("\nKeyboardInterrupt\n")
        except BaseException as exc:
            self._show(exc)
        finally:
            self.running = None

    async def _run(self, code: types.CodeType) -> None:
        result = types.FunctionType(code, self.locals)()
        if inspect.iscoroutine(result):
            await result

    def _show(self, exc: BaseException) -> None:
        # Drop the frames of this class: the user's traceback starts at their own statement.
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<console>":
            tb = tb.tb_next
        self.write("".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)))


def namespace_for(runtime: Runtime) -> dict[str, Any]:
    """What the prompt can use: the runtime, its apps, get_app, mega and asyncio."""
    import mega
    from mega.app.registry import get_app

    namespace: dict[str, Any] = {
        "__name__": "__console__",
        "__doc__": None,
        "runtime": runtime,
        "apps": runtime.apps,
        "get_app": get_app,
        "mega": mega,
        "asyncio": asyncio,
    }
    for name, app in runtime.apps.items():
        if name.isidentifier() and not keyword.iskeyword(name) and name not in namespace:
            namespace[name] = app
    return namespace


def run_repl(loop: asyncio.AbstractEventLoop, namespace: dict[str, Any]) -> int:
    """Read-eval-print until EOF or exit(); returns the exit code. Runs `loop` meanwhile."""
    repl = AsyncConsole(namespace, loop)
    runtime = namespace["runtime"]
    extra = "".join(f", {n}" for n in runtime.apps if namespace.get(n) is runtime.apps[n])
    banner = BANNER.format(apps=", ".join(runtime.apps), env=runtime.env, extra=extra)
    finished: asyncio.Future[int] = loop.create_future()

    def finish(status: int) -> None:
        if not finished.done():
            finished.set_result(status)

    def interact() -> None:
        try:
            if sys.stdin.isatty():
                import readline  # noqa: F401  (line editing and history at the prompt)
            repl.interact(banner=banner, exitmsg="")
        except SystemExit:
            pass  # exit() in a statement: the loop raised it in the main thread too, which reports it
        finally:
            # RuntimeError: the loop is already closed, the main thread has finished.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(finish, 0)

    threading.Thread(target=interact, name="mega-console", daemon=True).start()
    while True:
        try:
            return loop.run_until_complete(finished)
        except KeyboardInterrupt:
            if repl.running is not None:
                repl.running.cancel()  # interrupts the statement, not the console
        except SystemExit as exc:  # exit() in a statement runs on the loop, so it ends up here
            return exit_status(exc)


def exit_status(exc: SystemExit) -> int:
    """What `exit(x)` means, as the interpreter reads it: None is 0, a message is printed and is 1."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1

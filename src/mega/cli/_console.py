"""`mega console`: a Python REPL with the project booted, where `await` works at the prompt."""

from __future__ import annotations

import click

from mega.cli._project import project_root


@click.command("console")
@click.pass_context
def console(ctx: click.Context) -> int:
    """Boot the project and open a REPL with its apps (top-level await)."""
    root = project_root(ctx)
    import asyncio

    from mega.boot.stages import boot
    from mega.cli._repl import namespace_for, run_repl

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        runtime = loop.run_until_complete(boot(root))
        try:
            return run_repl(loop, namespace_for(runtime))
        finally:
            loop.run_until_complete(runtime.close())
    finally:
        asyncio.set_event_loop(None)
        loop.close()

"""Stamp every request with its start time; handlers can read ctx.started."""

import time


async def timing(req, reply, ctx):
    ctx.started = time.perf_counter()

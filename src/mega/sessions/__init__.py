"""Server-side sessions: `ctx.session`, a signed cookie carrying a random id, and the stores
(`file`, the default, and `redis`). See docs/reference/sessions.md."""

"""Server-side sessions: `ctx.session`, a signed cookie carrying a random id, and the store
(session data in a cache: the built-in file cache, or any `services.caches` alias). See
docs/reference/sessions.md."""

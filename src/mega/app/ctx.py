"""`ctx`: per-request context shared by every middleware and the handler of one request.

Creating one costs a slots object; everything heavier (child logger, services) is built on
first access, so a handler that never touches ctx pays nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega.app._services import Services
from mega.auth._state import Auth, auth_of
from mega.errors import MegaError
from mega.security._csrf import COOKIE, mask_token, new_secret, set_cookie, valid_secret
from mega.sessions.flash import add_flash, take_flashes

if TYPE_CHECKING:  # the contracts are for type checkers only: a request imports none of them
    import logging

    from mega.adapters.sql.adapter import SqlAdapter
    from mega.app.app import MegaApp
    from mega.bus.contract import Bus
    from mega.cache.contract import Cache
    from mega.http.reply import Reply
    from mega.http.request import Request
    from mega.http.response import Response
    from mega.jobs._queue import JobQueue
    from mega.lock.contract import Lock
    from mega.sessions.session import Session
    from mega.workers._registry import Workers


class Ctx:
    """Request context. Attributes set by middleware (`ctx.user = ...`) are seen by the handler."""

    __slots__ = ("__dict__", "app", "reply", "req")

    # Default for the attribute a project's auth middleware fills in.
    user: Any = None
    # Built on first use, in the instance's __dict__: a new ctx sets three slots only.
    _log: logging.Logger | logging.LoggerAdapter[Any] | None = None
    _services: Services | None = None
    _session: Session | None = None  # the pipeline commits it after the handler when one was used
    fire_time: Any = None  # in a schedule's run: the fire it belongs to (an aware UTC datetime)

    def __init__(self, app: MegaApp, req: Request | None, reply: Reply | None) -> None:
        self.app = app
        self.req = req
        self.reply = reply

    @property
    def request_id(self) -> str | None:
        return self.req.request_id if self.req is not None else None

    @property
    def log(self) -> logging.Logger | logging.LoggerAdapter[Any]:
        """A child logger that carries the request id."""
        if self._log is None:
            rid = self.request_id
            self._log = self.app.request_logger(rid) if rid else self.app.log
        return self._log

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = Services(self.app.services, self)
        return self._services

    def db(self, alias: str | None = None) -> SqlAdapter:
        """A database adapter by alias; no alias = the app's default database."""
        db: SqlAdapter = self.app.db(alias)
        return db

    def cache(self, alias: str | None = None) -> Cache:
        """A cache by alias; no alias = the default cache."""
        if alias is None:  # the usual call, in one frame once the adapters resolved it
            adapters = self.app.adapters
            if adapters is not None and adapters._default_cache is not None:
                return adapters._default_cache
        cache: Cache = self.app.cache(alias)
        return cache

    @property
    def lock(self) -> Lock:
        """This app's lock."""
        lock: Lock = self.app.lock
        return lock

    @property
    def bus(self) -> Bus:
        """This app's bus; `ctx.bus("alias")` is the same bus over another `services.buses` alias."""
        bus: Bus = self.app.bus
        return bus

    @property
    def presence(self) -> Any:
        """On a socket, this connection's presence (`join`, `list`, `broadcast`, ...); elsewhere the
        app's (`list(ns=...)`, `broadcast(ns=..., ...)`). See docs/reference/websockets.md."""
        bound = self.__dict__.get("_presence")
        return bound if bound is not None else self.app.presence

    @property
    def jobs(self) -> JobQueue:
        """This app's job queue: `await ctx.jobs.enqueue(SendMail, payload, msg_id=...)`."""
        jobs: JobQueue = self.app.jobs
        return jobs

    @property
    def workers(self) -> Workers:
        """The project's CPU pools: `await ctx.workers.resize.run(payload)`."""
        workers = self.app.workers
        if workers is None:
            raise MegaError("app.not_initialized", "ctx.workers is read before the workers boot stage ran")
        return workers

    @property
    def session(self) -> Session:
        """This request's server-side session, loaded on first await."""
        session: Session | None = self._session
        if session is None:
            session = self._session = self.app.session_for(self.req)
        return session

    @session.setter
    def session(self, value: Session) -> None:
        self._session = value

    @property
    def auth(self) -> Auth | None:
        """Who is logged in (`mega.auth.login`): an `Auth` (user_id, session_id, user_name), or None.
        Read from the session without I/O: anonymous at no cost without a session cookie;
        `auth.not_loaded` when the session was not loaded yet (`require_auth` and
        `await mega.auth.current_auth(ctx)` load it). A middleware may set it instead."""
        if "_auth" in self.__dict__:
            found: Auth | None = self.__dict__["_auth"]
            return found
        return auth_of(self)

    @auth.setter
    def auth(self, value: Auth | None) -> None:
        self.__dict__["_auth"] = value

    async def flash(self, kind: str, text: str) -> None:
        """Keep a message ("notice", "Saved") for the next request that reads flashes."""
        await add_flash(self.session, kind, text)

    async def flashes(self) -> list[dict[str, str]]:
        """The waiting flash messages as [{"kind", "text"}], taken out of the session (shown once)."""
        return list(await take_flashes(self))

    def csrf_token(self) -> str:
        """A CSRF token for a form on this page (sets the `mega_csrf` cookie when it is missing)."""
        secret = self.__dict__.get("_csrf_secret")
        if secret is None:
            secret = self.req.cookies.get(COOKIE) if self.req is not None else None
            if not valid_secret(secret):
                secret = new_secret()
                if self.reply is not None:
                    set_cookie(self.reply, secret, production=self.app.env == "production")
            self.__dict__["_csrf_secret"] = secret
        return mask_token(secret)  # type: ignore[arg-type]

    def static_url(self, path: str) -> str:
        """The URL of public/<path> with a content hash for cache busting (see MegaApp.static_url)."""
        return self.app.static_url(path)

    def t(self, key: str, default: str | None = None, **values: Any) -> str:
        """`key`'s text in this request's locale (else the default locale's, else `default`, else the
        key), with `{name}` filled from `values`; `count=` picks a plural form. Never raises for a
        missing key or value: it logs a warning once. With i18n off: the default or the key, formatted."""
        i18n = self.app.i18n
        return i18n.translate(self.locale, key, default, values)

    @property
    def locale(self) -> str:
        """This request's locale ("en", "pt_BR"): `?lang=`, then the cookie, then Accept-Language,
        else the app's default; resolved on first use."""
        locale: str | None = self.__dict__.get("_locale")
        if locale is None:
            locale = self.__dict__["_locale"] = self.app.i18n.locale_for(self.req, self.reply)
        return locale

    @locale.setter
    def locale(self, value: str) -> None:
        found = self.app.i18n.match(value)
        if found is None:
            offered = ", ".join(self.app.i18n.locales) or "any CLDR locale"
            raise MegaError("i18n.unknown_locale", f"ctx.locale = {value!r}: app '{self.app.name}' has no "
                            "such locale", hint=f"set one of: {offered}")
        self.__dict__["_locale"] = found

    def format_number(self, value: Any) -> str:
        """`value` written for this request's locale: 1234567.5 -> "1,234,567.5" (en), "1.234.567,5" (de)."""
        return self.app.i18n.formats(self.locale).number(value)

    def format_currency(self, value: Any, currency: str) -> str:
        """An amount in `currency` (ISO 4217: "EUR") for this request's locale."""
        return self.app.i18n.formats(self.locale).currency(value, currency)

    def format_date(self, value: Any, format: str = "medium") -> str:
        """A date (or the date of a datetime): format "short", "medium", "long", "full" or a CLDR pattern."""
        return self.app.i18n.formats(self.locale).date(value, format)

    def format_datetime(self, value: Any, format: str = "medium") -> str:
        """A datetime, in its own time zone (a naive one is taken as UTC)."""
        return self.app.i18n.formats(self.locale).datetime(value, format)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of this app's route named `name`, with `params` filled in and quoted."""
        return self.app.url_for(name, **params)

    def render(self, view: str, data: dict[str, Any] | None = None, *, status: int | None = None,
               headers: dict[str, str] | None = None, layout: str | None = None) -> Response:
        """An HTML response: template `view` of this app's views folder rendered with `data`.

        Templates see `data`, the helpers (t, csrf_token, url_for, ...), and `layout` (the app's
        `views.layout` unless given here), which a view extends with `{% extends layout %}`.
        `status` defaults to `reply.status(...)`'s, 200 unless set.
        """
        return self.app.render(self, view, data, status=status, headers=headers, layout=layout)

    def __repr__(self) -> str:
        return f"Ctx(app={self.app.name!r}, request_id={self.request_id!r})"

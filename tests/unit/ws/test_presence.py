"""Presence on one instance: the eleven invariants of the local indexes and delivery (SEED-NOTES §12),
each through the public API with real sockets (queue and writer), and every bad argument's code."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from mega.errors import MegaError
from mega.ws.presence import Presence, PresenceSink, PresenceTransport, Session, SocketPresence
from tests.unit.ws._presence_helpers import close_socket, open_socket, settle

MSG = {"type": "chat.message", "payload": {"text": "hi"}}


class RecordingTransport(PresenceTransport):
    """A transport that records what presence publishes (and can be unregistered or fail)."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.is_registered = True
        self.fail = False
        self.sink: PresenceSink | None = None
        self.stopped = 0

    @property
    def registered(self) -> bool:
        return self.is_registered

    async def start(self, sink: PresenceSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.stopped += 1

    def _add(self, *item: Any) -> None:
        if self.fail:
            raise ConnectionError("link down")
        self.sent.append(item)

    def publish_join(self, session: Session) -> None:
        self._add("join", session.session_id, session.user_id, session.channels, session.metadata)

    def publish_leave(self, ns: str, session_id: str) -> None:
        self._add("leave", session_id)

    def publish_metadata(self, ns: str, session_id: str, metadata: Mapping[str, Any]) -> None:
        self._add("metadata", session_id, dict(metadata))

    def publish_broadcast(self, ns: str, channel: str | None, message: Mapping[str, Any],
                          except_session_ids: Sequence[str]) -> None:
        self._add("broadcast", ns, channel, message["type"], tuple(except_session_ids))

    def publish_direct(self, user_id: str, message: Mapping[str, Any]) -> None:
        self._add("direct", user_id, message["type"])


@pytest.fixture
def presence() -> Presence:
    return Presence("main", instance_id="i1")


async def test_indexes_track_namespaces_users_sessions_and_drop_empty_sets(presence: Presence) -> None:
    a, _ = open_socket(presence)
    b, _ = open_socket(presence, "/ws/other")
    await presence.join(a, user_id="u1", session_id="s1", channels=["lobby"])
    ns, users, sessions = presence.indexes()
    assert ns == {"/ws/chat": {a}, "/ws/other": {b}}
    assert users == {"u1": {a}} and sessions == {"s1": a}
    await close_socket(presence, a)
    await close_socket(presence, b)
    assert presence.indexes() == ({}, {}, {})  # emptied sets are removed


async def test_join_refuses_a_closed_socket_and_bad_ids(presence: Presence) -> None:
    sock, _ = open_socket(presence)
    for kwargs, code in [({"user_id": "", "session_id": "s"}, "presence.invalid_user_id"),
                         ({"user_id": 7, "session_id": "s"}, "presence.invalid_user_id"),
                         ({"user_id": "u", "session_id": None}, "presence.invalid_session_id"),
                         ({"user_id": "u", "session_id": "s", "metadata": "x"}, "presence.invalid_metadata"),
                         ({"user_id": "u", "session_id": "s", "channels": "lobby"},
                          "presence.invalid_channel")]:
        with pytest.raises(MegaError) as err:
            await presence.join(sock, **kwargs)
        assert err.value.code == code
    assert presence.indexes()[2] == {}  # nothing half-joined
    sock.close()
    with pytest.raises(MegaError) as err:
        await presence.join(sock, user_id="u", session_id="s")
    assert err.value.code == "presence.connection_closed"


async def test_duplicate_session_detaches_the_prior_socket_without_closing_it(
        presence: Presence, caplog: pytest.LogCaptureFixture) -> None:
    transport = RecordingTransport()
    presence.use_transport(transport)
    old, old_client = open_socket(presence)
    new, _ = open_socket(presence)
    await presence.join(old, user_id="u1", session_id="s1")
    with caplog.at_level(logging.WARNING, "mega.ws.presence"):
        await presence.join(new, user_id="u2", session_id="s1")
    assert "s1" in caplog.text and "detached" in caplog.text
    ns, users, sessions = presence.indexes()
    assert sessions == {"s1": new} and users == {"u2": {new}} and ns["/ws/chat"] == {new}
    assert presence.identity(old) is None and not old.closed
    await presence.broadcast(ns="/ws/chat", message=MSG)  # the detached socket is out of the namespace
    await settle()
    assert old_client.take() == []
    transport.sent.clear()
    await close_socket(presence, old)  # its close sends no LEAVE for the new session
    assert transport.sent == [] and presence.indexes()[2] == {"s1": new}


async def test_untrack_removes_the_session_only_if_it_still_points_here(presence: Presence) -> None:
    old, _ = open_socket(presence)
    new, _ = open_socket(presence)
    await presence.join(old, user_id="u1", session_id="s1")
    await presence.join(new, user_id="u1", session_id="s1")
    await close_socket(presence, old)
    assert presence.indexes()[2] == {"s1": new}
    await close_socket(presence, new)
    assert presence.indexes()[2] == {}


async def test_direct_reaches_only_that_users_sockets_and_unknown_user_is_a_no_op(presence: Presence) -> None:
    a, ca = open_socket(presence)
    a2, ca2 = open_socket(presence, "/ws/other")
    b, cb = open_socket(presence)
    _unmapped, cu = open_socket(presence)
    await presence.join(a, user_id="u1", session_id="s1")
    await presence.join(a2, user_id="u1", session_id="s2")
    await presence.join(b, user_id="u2", session_id="s3")
    assert await presence.direct_to_user("u1", MSG) == 2
    assert await presence.direct_to_user("nobody", MSG) == 0
    await settle()
    assert ca.take() == ca2.take() == [{"type": "chat.message", "payload": {"text": "hi"}}]
    assert cb.take() == [] and cu.take() == []
    for args, code in [(("", MSG), "presence.invalid_user_id"),
                       (("u1", {"payload": 1}), "presence.invalid_message")]:
        with pytest.raises(MegaError) as err:
            await presence.direct_to_user(*args)
        assert err.value.code == code


async def test_broadcast_needs_a_type_skips_excepted_mapped_and_closed_sockets(presence: Presence) -> None:
    transport = RecordingTransport()
    presence.use_transport(transport)
    a, ca = open_socket(presence)
    b, cb = open_socket(presence)
    _unmapped, cu = open_socket(presence)
    gone, cg = open_socket(presence)
    _other, co = open_socket(presence, "/ws/other")
    await presence.join(a, user_id="u1", session_id="s1")
    await presence.join(b, user_id="u2", session_id="s2")
    gone.close()
    for message in ({"payload": 1}, {"type": ""}, "text", None):
        with pytest.raises(MegaError) as err:
            await presence.broadcast(ns="/ws/chat", message=message)
        assert err.value.code == "presence.invalid_message"
    with pytest.raises(MegaError) as err:
        await presence.broadcast(ns="/ws/chat", message=MSG, except_session_ids="s1")
    assert err.value.code == "presence.invalid_session_id"
    transport.sent.clear()
    # "s3" maps nothing here; unmapped sockets have no session, so an except list never skips them
    assert await presence.broadcast(ns="/ws/chat", channel="lobby", message=MSG,
                                    except_session_ids=["s1", "s3"]) == 2
    await settle()
    frame = {"type": "chat.message", "ns": "/ws/chat", "payload": {"text": "hi"}}
    assert ca.take() == [] and cb.take() == [frame] and cu.take() == [frame]
    assert cg.take() == [] and co.take() == []
    await presence.broadcast(ns="/ws/chat", message=MSG, except_session_ids=[])
    assert transport.sent == [("broadcast", "/ws/chat", "lobby", "chat.message", ("s1", "s3")),
                              ("broadcast", "/ws/chat", None, "chat.message", ())]  # empty: none sent


async def test_update_metadata_checks_stores_and_ignores_unknown_sessions(presence: Presence) -> None:
    transport = RecordingTransport()
    presence.use_transport(transport)
    sock, _ = open_socket(presence)
    await presence.join(sock, user_id="u1", session_id="s1", metadata={"status": "here"})
    transport.sent.clear()
    for args, code in [((None, {}), "presence.invalid_session_id"),
                       (("s1", None), "presence.invalid_metadata"),
                       (("s1", ["x"]), "presence.invalid_metadata")]:
        with pytest.raises(MegaError) as err:
            await presence.update_metadata(*args)
        assert err.value.code == code
    assert await presence.update_metadata("nope", {"status": "away"}) is False
    assert transport.sent == []  # unknown session: nothing published
    assert await presence.update_metadata("s1", {"status": "away"}) is True
    assert transport.sent == [("metadata", "s1", {"status": "away"})]
    assert await presence.list(ns="/ws/chat") == [{"session_id": "s1", "user_id": "u1",
                                                    "metadata": {"status": "away"}}]
    assert [s.metadata for s in presence.local_sessions()] == [{"status": "away"}]  # a resync restores it


async def test_publishes_only_while_registered_and_a_failed_publish_only_warns(
        presence: Presence, caplog: pytest.LogCaptureFixture) -> None:
    transport = RecordingTransport()
    presence.use_transport(transport)
    sock, client = open_socket(presence)
    transport.is_registered = False
    await presence.join(sock, user_id="u1", session_id="s1")
    await presence.broadcast(ns="/ws/chat", message=MSG)
    assert transport.sent == []
    transport.is_registered = True
    transport.fail = True
    with caplog.at_level(logging.WARNING, "mega.ws.presence"):
        assert await presence.broadcast(ns="/ws/chat", message=MSG) == 1
        assert await presence.direct_to_user("u1", MSG) == 1
    assert "publish of broadcast failed" in caplog.text and "publish of direct failed" in caplog.text
    await settle()
    assert len(client.take()) == 3  # delivered locally all the same


async def test_list_by_namespace_and_channel_merges_local_first(presence: Presence) -> None:
    a, _ = open_socket(presence)
    b, _ = open_socket(presence)
    c, _ = open_socket(presence, "/ws/other")
    await presence.join(a, user_id="u1", session_id="s1", channels=["lobby", "ops"], metadata={"n": 1})
    await presence.join(b, user_id="u2", session_id="s2", channels=["lobby"])
    await presence.join(c, user_id="u3", session_id="s3", channels=["ops"])
    by_ns = await presence.list(ns="/ws/chat")
    assert sorted(m["session_id"] for m in by_ns) == ["s1", "s2"]
    assert sorted(m["session_id"] for m in await presence.list(channel="ops")) == ["s1", "s3"]
    assert await presence.list(ns="/ws/none") == []
    for kwargs, code in [({"ns": "chat"}, "presence.invalid_ns"),
                         ({"channel": ""}, "presence.invalid_channel")]:
        with pytest.raises(MegaError) as err:
            await presence.list(**kwargs)
        assert err.value.code == code


async def test_disconnect_and_leave_publish_leave(presence: Presence) -> None:
    transport = RecordingTransport()
    presence.use_transport(transport)
    a, ca = open_socket(presence)
    b, _ = open_socket(presence)
    await presence.join(a, user_id="u1", session_id="s1", channels=["lobby"])
    await presence.join(b, user_id="u2", session_id="s2")
    await presence.leave(a)
    await close_socket(presence, b)
    assert [x[:2] for x in transport.sent] == [("join", "s1"), ("join", "s2"),
                                               ("leave", "s1"), ("leave", "s2")]
    assert await presence.list(ns="/ws/chat") == []
    await presence.broadcast(ns="/ws/chat", message=MSG)  # a socket that left still gets the namespace's
    await settle()
    assert len(ca.take()) == 1


async def test_close_stops_the_transport_clears_and_closes_sockets_1001(presence: Presence) -> None:
    transport = RecordingTransport()
    presence.use_transport(transport)
    await presence.start()
    a, ca = open_socket(presence)
    await presence.join(a, user_id="u1", session_id="s1")
    await presence.close()
    await presence.close()  # idempotent
    assert transport.stopped == 1 and presence.indexes() == ({}, {}, {})
    await settle()
    assert ca.closed == (1001, "server shutting down")


async def test_kick_closes_1008_or_4503_and_unknown_is_a_no_op(presence: Presence) -> None:
    a, ca = open_socket(presence)
    b, cb = open_socket(presence)
    await presence.join(a, user_id="u1", session_id="s1")
    await presence.join(b, user_id="u2", session_id="s2")
    assert presence.kick("s1") is True
    assert presence.kick("s2", requeue=True) is True
    assert presence.kick("nobody") is False
    await settle()
    assert ca.closed == (1008, "disconnected by hub") and cb.closed == (4503, "requeued — reconnect")


async def test_positional_arguments_get_a_mega_error_that_shows_the_call_with_keywords(
        presence: Presence) -> None:
    sock, _ = open_socket(presence)
    bound = SocketPresence(presence, sock)
    with pytest.raises(MegaError) as err:
        await bound.join("u1", "s1")
    assert err.value.code == "presence.keyword_arguments"
    assert err.value.message == ("ctx.presence.join() takes its arguments by keyword, got 2 positional: "
                                 "'u1', 's1'")
    assert err.value.hint == ("name each one, e.g. await ctx.presence.join(user_id='u1', session_id='s1') "
                              "(its keywords: user_id, session_id, channels, metadata)")
    with pytest.raises(MegaError) as err:  # a value is matched to the required keywords first
        await bound.broadcast({"type": "hello"})
    assert "e.g. await ctx.presence.broadcast(message={'type': 'hello'})" in (err.value.hint or "")
    with pytest.raises(MegaError) as err:
        await presence.join(sock, "u1", session_id="s1")
    assert err.value.code == "presence.keyword_arguments"
    assert "e.g. await app.presence.join(sock, user_id='u1', session_id=...)" in (err.value.hint or "")
    with pytest.raises(MegaError) as err:
        await presence.list("/ws/chat")
    assert "e.g. await app.presence.list(ns='/ws/chat')" in (err.value.hint or "")
    assert presence.indexes() == ({"/ws/chat": {sock}}, {}, {})  # nothing joined
    await bound.join(user_id="u1", session_id="s1")  # by keyword, as before
    assert await bound.list() == [{"session_id": "s1", "user_id": "u1", "metadata": None}]

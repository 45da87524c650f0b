"""The WebSocket hub: `mega ws-hub` (`_server`), its wire protocol (`_protocol`, shared with the
bridge link) and the `ws_hub` config section. See docs/reference/hub-protocol.md.

Nothing is imported here, so the config loader reading `ws_hub` does not load the server."""

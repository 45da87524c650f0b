"""OpenAPI 3.1: each app's document, built once at boot from its routes, and an offline docs page.

See docs/reference/openapi.md. Configured by the `openapi` section (`mega.openapi._settings`) and
mounted by the apps boot stage (`mega.openapi._mount.openapi_endpoints`).
"""

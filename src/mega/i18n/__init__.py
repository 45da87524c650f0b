"""i18n: JSON catalogs per app, the request's locale, plurals and locale formats (Babel/CLDR).

Handlers use it through the request context: `ctx.t(key, **values)`, `ctx.locale`,
`ctx.format_number(...)`, `ctx.format_date(...)`. See docs/reference/i18n.md.
"""

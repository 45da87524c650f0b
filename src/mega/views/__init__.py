"""Views: an app's Jinja2 templates (`apps/<name>/views/`), rendered by `ctx.render`, and the HTML
error pages a browser gets. The reference is docs/reference/views.md."""

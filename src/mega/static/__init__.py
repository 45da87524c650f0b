"""Static files: an app's `public/` folder served under a URL prefix (docs/reference/static.md)."""

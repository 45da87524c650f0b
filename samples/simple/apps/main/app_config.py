"""Config of the `main` app."""

config = {
    "middleware": {"before": ["timing"]},
    # On in development and test by default; enabled here so the sample documents itself everywhere.
    "openapi": {"enabled": True, "title": "mega simple sample", "version": "1.0.0",
                "description": "A todo list: the JSON API of samples/simple."},
}

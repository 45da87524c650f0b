"""Config of the `main` app."""

config = {
    "middleware": {"before": ["timing"]},
}

"""`python -m mega` runs the CLI."""

import sys

from mega.cli.main import main

sys.exit(main())

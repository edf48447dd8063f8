"""`python -m ember ...`: the same as the `ember` command."""
import sys

from .app.cli import main

sys.exit(main())

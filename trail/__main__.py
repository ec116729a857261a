"""`python -m trail`: the command line."""

from trail.cli import main

raise SystemExit(main())

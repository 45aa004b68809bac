"""`python -m tbot` runs the same CLI as the `tbot` console script."""

from tbot.cli.main import main

raise SystemExit(main())

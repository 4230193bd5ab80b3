"""``python -m srlib ...``: the ``srlib`` command line (srlib/cli.py)."""
from srlib.cli import main

raise SystemExit(main())

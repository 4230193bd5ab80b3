"""``python -m srlib.weights``: see :mod:`srlib.weights.cli`."""
from .cli import main

raise SystemExit(main())

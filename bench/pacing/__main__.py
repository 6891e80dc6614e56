"""``python -m bench.pacing``: run the pacing simulation grid and write the report."""

from .run import main

raise SystemExit(main())

"""``python -m broadsheet``: the ``broadsheet`` command, where its script is not on PATH."""

from broadsheet.cli import main

raise SystemExit(main())

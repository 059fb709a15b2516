"""``python -m taskq_core``: the ``taskq`` command, for when its script is not on ``PATH``."""

from __future__ import annotations

from taskq_core.cli import main

if __name__ == "__main__":
    main(prog_name="taskq")

"""``python -m mlgate.hooks ...`` is ``mlgate hooks ...`` (for process supervisors that run a
module, and for checkouts where the subcommand is not registered yet)."""

from __future__ import annotations

import sys

from mlgate.cli import SUBCOMMANDS, main

SUBCOMMANDS.setdefault("hooks", ("mlgate.commands.hooks:hooks", "MLflow registry webhooks (receiver, worker)."))

if __name__ == "__main__":
    sys.exit(main(["hooks", *sys.argv[1:]]))

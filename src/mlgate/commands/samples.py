"""``mlgate samples``: write the inert sample folders (clean and poisoned)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def samples(folder: Path) -> int:
    """Write FOLDER/clean-model and FOLDER/poisoned-model (inert: the payload is `true`)."""
    from mlgate._dev.samples import write_clean_model, write_poisoned_model

    clean = write_clean_model(folder / "clean-model")
    bad = write_poisoned_model(folder / "poisoned-model")
    click.echo(f"wrote {clean}\nwrote {bad}", err=True)
    return 0

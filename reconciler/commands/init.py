"""`pcr init`: write a ready desired-state repository for a partner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from reconciler import scaffold
from reconciler.commands import ERROR, OK


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    source: scaffold.Source
    force: bool = False


def run(options: InitOptions) -> int:
    repository = options.source.repository
    if repository.count("/") != 1 or not all(repository.split("/")):
        click.echo(f"pcr: --repository {repository!r} is not OWNER/NAME", err=True)
        return ERROR
    files = scaffold.repository_files(options.source)
    try:
        result = scaffold.write_files(options.directory, files, force=options.force)
    except OSError as exc:
        click.echo(f"pcr: cannot write to {options.directory}: {exc}", err=True)
        return ERROR
    for path in result.written:
        click.echo(f"wrote {path}")
    for kept in result.kept:
        click.echo(f"kept {kept}")
    desired = options.directory / scaffold.DESIRED_DIR
    example = options.directory / scaffold.EXAMPLE_CUSTOMER
    click.echo(
        f"pcr: {len(result.written)} written, {len(result.kept)} kept. Next: copy "
        f"{example} into {desired / 'customers'} "
        f"(or run `pcr import --out {desired}`), check partner.type in "
        f"{desired / 'partner.yaml'}, and run `pcr validate {desired}`",
        err=True,
    )
    return OK

"""The shared parts of the command line: the Typer app, global options, helpers."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from sqlalchemy.engine import Engine

from triaged import logs
from triaged.config import loading as config_module
from triaged.config.records import Config
from triaged.domain.errors import ConfigError, SchemaMismatch
from triaged.store.db import ensure_schema, make_engine

if TYPE_CHECKING:
    from triaged.app import App

app = typer.Typer(
    # Plain help: the rich panels print a flag such as --once as taking a <bool>.
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    help="Complaint triage: every support mail registered, answered and followed up.",
)
quarantine_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                             help="Messages that could not be processed.")
app.add_typer(quarantine_app, name="quarantine")

EXIT_FAILURE = 1
EXIT_CONFIG = 2


class State:
    config_path: Path | None = None
    verbose: bool = False


state = State()


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config file (else $TRIAGED_CONFIG, else "
                     "/etc/triaged/config.toml).", show_default=False),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    state.config_path = config
    state.verbose = verbose
    # Until the config is read ([logging] decides the format), lines are plain text.
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in logs.NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    typer.echo(f"triaged: {message}", err=True)
    raise typer.Exit(code)


def load_config() -> Config:
    """Load the config or exit 2 listing every problem; then log as `[logging]` says."""
    path = state.config_path or config_module.default_path()
    try:
        config = config_module.load(path)
    except ConfigError as error:
        typer.echo(f"triaged: {path}: the configuration has {len(error.problems)} problem(s):",
                   err=True)
        for problem in error.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    apply_logging(config)
    return config


def apply_logging(config: Config) -> None:
    """Format, level (`--verbose` wins) and the secrets to redact, from `config`."""
    logs.configure(config.logging.format, "debug" if state.verbose else config.logging.level,
                   secrets=config.secrets())


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))



def open_database(config: Config) -> Engine:
    """The configured database with its schema current, or exit 2 saying why not.

    A schema behind is upgraded when `[database] migrate_on_start` allows it;
    otherwise, and for a schema newer than this code, the command refuses:
    restarting would not mend either (systemd's RestartPreventExitStatus=2).
    """
    engine = make_engine(config.database.url)
    try:
        ensure_schema(engine, migrate_on_start=config.database.migrate_on_start)
    except SchemaMismatch as error:
        engine.dispose()
        fail(str(error), EXIT_CONFIG)
    return engine


def build_app(config: Config) -> App:
    """`triaged.app.build` for the console commands: a schema mismatch exits 2 with its reason."""
    # Imported here: the read-only commands start faster without the intake,
    # parser and transports.
    from triaged import app as wiring

    try:
        return wiring.build(config)
    except SchemaMismatch as error:
        fail(str(error), EXIT_CONFIG)

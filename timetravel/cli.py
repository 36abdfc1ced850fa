"""The ``timetravel`` command: thin commands over library functions.

Every user error becomes one line on stderr and exit status 2 (see ``errors.UserError``).
"""

from __future__ import annotations

import sys

import click

from timetravel import __version__
from timetravel.commands import (
    check,
    copy,
    demo,
    diff,
    drift,
    export,
    get,
    history,
    import_audit,
    imports,
    migrate,
    note,
    prune,
    record,
    record_build,
    record_run,
    report,
    ui,
)
from timetravel.host import tune_collector


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="timetravel")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """What was actually running, and why, at any moment.

    timetravel records a Kubernetes cluster (list+watch) and its GitOps repository into
    one SQLite file, and lets you scrub through time to see desired (git) next to actual
    (cluster) state, the cause of every change, and drift.

    Without a command it opens the screen (`timetravel ui`).

    Example:

        timetravel demo
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(ui.ui)


# Every command, named: a module that fails to import is an error, never a missing command.
for _command in (
    ui.ui,
    demo.demo,
    record.record,
    export.export,
    diff.diff,
    drift.drift,
    get.get,
    history.history,
    record_run.record_run,
    record_build.record_build,
    report.report,
    imports.import_events,
    import_audit.import_audit,
    check.check,
    copy.copy,
    prune.prune,
    migrate.migrate,
    note.note,
):
    cli.add_command(_command)


def main() -> None:
    tune_collector()
    try:
        cli.main(prog_name="timetravel", standalone_mode=True)
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error.
        sys.stderr.close()
        sys.exit(0)

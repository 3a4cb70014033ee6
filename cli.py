"""revsync's command line: the main group, logging set up before anything can log, and the one
place errors become exit codes. The commands (their arguments, what they print, the clock) are in
connector/commands/, one module per area, registered on the main group below.

Exit codes (docs/operations.md): 0 success; 1 partial (rule tests failed, or some records were
skipped or failed to write and are kept for retry); 2 bad input: rule, mapping, settings or
command-line problems, a state or org file that is not usable (nothing was read or written);
3 cannot reach or authenticate to the org; 4 another run holds the lock; 5 the change guard
stopped the run before writing; 6 the API budget floor was reached and the run paused; 70 an
internal error (a bug). Errors carry their code (rules.model.RevsyncError); `report_error` is
the one place an error becomes a message and an exit code.
"""
from __future__ import annotations

import os
import sys
import traceback

import click
import structlog

from connector.commands import org_cmds, report_cmds, rules_cmds, sync_cmds
from connector.commands.common import REPORT_ERROR, _Group, report_problems
# Logging and redaction live beside the commands, which all take -v/-q/--log-format and print
# through `redact` (connector never imports cli); these names stay importable from cli.
from connector.commands.logs import _log_safely as _log_safely
from connector.commands.logs import json_logs, redact, setup_logging, verbose
from rules.model import GuardStop, RevsyncError

EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h: a bug, not something the user can fix


def report_error(exc: Exception) -> int:
    """The one place an error becomes a message on stderr (and a JSON event for machines) and
    an exit code: revsync's own errors carry theirs; anything else is a bug (70)."""
    from connector.dbfile import known_failure
    from rules.model import ConfigError
    error_type = type(exc).__name__
    if not isinstance(exc, RevsyncError):  # a busy, damaged or missing file is no bug
        exc = known_failure(exc) or exc
    code, lead, text = exc.exit_code if isinstance(exc, RevsyncError) else EXIT_INTERNAL, "error", str(exc)
    if isinstance(exc, ConfigError):
        report_problems(exc.problems)
    elif isinstance(exc, GuardStop):
        lead = "stopped before writing"
    elif not isinstance(exc, RevsyncError):
        lead, one_line = "internal error (a bug in revsync, exit 70)", " ".join(text.split())[:500]
        text = (f"{error_type}: {one_line}. Run the command again with -v for the traceback "
                f"and report it to revsync's maintainers with that and `revsync --version`")
    if json_logs():  # for machines; on a terminal the line below says it all
        structlog.get_logger().error("command_failed", exit_code=code, error_type=error_type, error=text)
    click.echo(redact(f"{lead}: {text}"), err=True)
    if code == EXIT_INTERNAL and verbose():
        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    return code


class _Main(_Group):
    group_class = _Group
    hidden_logging = False

    def main(self, *args, **kwargs):
        setup_logging()  # before anything can log: structlog's own default shows local variables
        return super().main(*args, **kwargs)

    def invoke(self, ctx):
        ctx.meta[REPORT_ERROR] = report_error  # for a command that reports an error and goes on (sync --every)
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors (exit 2), --help, Ctrl-C
        except BrokenPipeError:  # `revsync ... | head` closed the pipe: not an error of ours
            sys.stdout = open(os.devnull, "w")  # the interpreter's last flush would fail again
            sys.exit(141)
        except Exception as exc:
            sys.exit(report_error(exc))


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revsync")
def main() -> None:
    """revsync: sales and marketing agreements as code.

    -v, -q and --log-format also work after the command: `revsync sync -v`.
    """


main.add_command(rules_cmds.rules_group)
# What admins type first: `revsync validate` and `revsync test` are the rules commands.
main.add_command(rules_cmds.rules_validate, "validate")
main.add_command(rules_cmds.rules_test, "test")
main.add_command(rules_cmds.evaluate)
main.add_command(rules_cmds.explain)
main.add_command(rules_cmds.init)
main.add_command(org_cmds.org_group)
main.add_command(sync_cmds.sync)
main.add_command(sync_cmds.runs_group)
main.add_command(sync_cmds.history)
main.add_command(sync_cmds.revert)
main.add_command(org_cmds.doctor)
main.add_command(report_cmds.preview)
main.add_command(report_cmds.report)
main.add_command(report_cmds.pilot_group)
main.add_command(org_cmds.demo)


if __name__ == "__main__":
    main()

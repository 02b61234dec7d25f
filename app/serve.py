"""``careloop serve``: the one-command production start. Runs every process of the Procfile
(web, mail, webhooks, scheduler) with honcho in the foreground, prefixes their output with
their names, and stops them all together when one stops or on Ctrl-C / SIGTERM.

The Procfile is ``./Procfile`` when there is one (to adapt it), else the one in the package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from app import resource_dir


def procfile_path() -> Path:

    local = Path("Procfile")
    return local if local.is_file() else resource_dir("Procfile")


def procfile_commands(path: Path | None = None) -> dict[str, str]:
    from honcho.environ import parse_procfile

    return dict(parse_procfile((path or procfile_path()).read_text()).processes)


@click.command("serve")
@click.option("--only", help="Comma list of processes to run (default: all of web, mail, webhooks, scheduler).")
def serve_command(only):
    """Run Careloop in production: gunicorn and the background processes (honcho)."""
    from honcho.manager import Manager
    from honcho.printer import Printer

    path = procfile_path()
    processes = procfile_commands(path)
    if only:
        wanted = [name.strip() for name in only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(processes))
        if unknown:
            raise click.ClickException(f"--only names {', '.join(unknown)}; the Procfile has {', '.join(processes)}.")
        processes = {name: processes[name] for name in wanted}
    env = dict(os.environ)
    # The commands are found next to this Python (the virtual environment careloop runs from).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    click.echo(f"careloop serve: {', '.join(processes)} from {path}", err=True)
    manager = Manager(Printer(sys.stdout))
    for name, command in processes.items():
        manager.add_process(name, command, env=env)
    manager.loop()
    sys.exit(manager.returncode)

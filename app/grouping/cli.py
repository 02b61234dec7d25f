"""Commands: ``careloop grouping-eval`` and ``careloop grouping-reindex``."""

from __future__ import annotations

import json
import sys

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db
from app.grouping import similarity_index
from app.grouping.evaluation import EvaluationError, run_evaluation
from app.models import Report


@click.command("grouping-eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--limit", type=int, help="Only the first N rows.")
@click.option("--database-url", help="An empty database to file into (default: a temporary SQLite file).")
@click.option("--backend", help="Similarity backend (default: CARELOOP_GROUPING_BACKEND).")
@click.option("--auto", "auto", type=float, help="Threshold to join automatically (default: CARELOOP_GROUPING_AUTO).")
@click.option("--review", "review", type=float, help="Threshold to queue for review (default: CARELOOP_GROUPING_REVIEW).")
@click.option("--suggest", "suggest", type=float, help="Threshold of customers' suggestions (default: CARELOOP_SUGGEST_MIN).")
@click.option("--simulate-leader", is_flag=True,
              help="After each report a leader answers as the labels say; adds first/second-half figures.")
@with_appcontext
def grouping_eval(file, text_column, label_column, limit, database_url, backend, auto, review, suggest,
                  simulate_leader):
    """File FILE's rows, in order, through the filing service into a fresh database and
    print one JSON object scoring the grouping (labels are used only to score).

    \b
    A problem's label is the label of the report that started it. Of the reports that
    have an earlier report with the same label ("with_earlier_duplicate"):
    duplicates_caught  share joined automatically to a problem of their label, or asked
                       about in a review question naming one among its candidates;
    auto_precision     right automatic joins / automatic joins;
    auto_coverage      right automatic joins / reports with an earlier duplicate;
    review_precision   review questions naming a right problem / review questions;
    suggest_hit        share whose suggestion list (after CARELOOP_SUGGEST_MIN, at
                       most five) holds a problem of their label;
    auto_wrong_near_miss  wrong automatic joins between labels sharing vocabulary.
    With a "lang" column every figure is given per language too ("by_lang")."""

    config = {k: v for k, v in current_app.config.items() if k.startswith("CARELOOP_")}
    for key, value in (("CARELOOP_GROUPING_BACKEND", backend), ("CARELOOP_GROUPING_AUTO", auto),
                       ("CARELOOP_GROUPING_REVIEW", review), ("CARELOOP_SUGGEST_MIN", suggest)):
        if value is not None:
            config[key] = value

    def progress(done: int) -> None:
        if done % 1000 == 0:
            click.echo(f"{done} rows filed", err=True)

    try:
        result = run_evaluation(file, text_column=text_column, label_column=label_column, config=config,
                                database_url=database_url, limit=limit,
                                progress=progress if sys.stderr.isatty() else None,
                                simulate_leader=simulate_leader)
    except EvaluationError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(result))


@click.command("grouping-reindex")
@click.option("--batch", default=500, show_default=True, help="Reports encoded and committed together.")
@with_appcontext
def grouping_reindex(batch):
    """Encode every report again with the configured backend (after changing it)."""


    index = similarity_index()
    last = 0
    done = 0
    while True:
        rows = db.session.execute(
            sa.select(Report.id, Report.problem_id, Report.text)
            .where(Report.id > last, Report.removed_at.is_(None), Report.problem_id.is_not(None))  # not held ones
            .order_by(Report.id).limit(batch)
        ).all()
        if not rows:
            break
        index.index_reports([(r.id, r.problem_id, r.text) for r in rows])
        db.session.commit()
        last = rows[-1].id
        done += len(rows)
    click.echo(f"Indexed {done} reports with the {index.backend.name} backend.")

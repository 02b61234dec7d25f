"""An import page's rows written together (app/imports/ids.py on PostgreSQL): the numbers,
the grouping and the audit trail come out as if each ticket had been filed on its own, one
after the other. Run on SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

from app.extensions import db
from app.imports.importer import import_from_source
from app.models import REPORT_FILED, Channel, Event, Person, Problem, Report
from app.plugin_api import Setting, Ticket, TicketPage, TicketSource
from app.services.filing import Person as Filer
from app.services.filing import Submission, submit_report

TOPICS = ["The lift at the north entrance has been stuck between floors all week",
          "Parking machine swallows coins and prints no ticket",
          "Library website shows every book as checked out",
          "Bus stop display is blank since the storm"]


def ticket(n: int, topic: int) -> Ticket:
    return Ticket(external_id=str(n), text=TOPICS[topic], requester_name=f"Person {n}",
                  requester_email=f"p{n % 5}@example.net")


def test_a_page_written_together_numbers_groups_and_records_as_one_by_one(register_source, app_ctx):
    # Two pages: each topic's first ticket starts a problem, the same words join it (in the
    # same page, before anything is flushed, and on the next page).
    pages = [[ticket(n, n % 3) for n in range(1, 10)], [ticket(n, n % 4) for n in range(10, 18)]]

    def fetch(settings, cursor):
        start = int(cursor or 0)
        for index in range(start, len(pages)):
            yield TicketPage(tickets=pages[index], cursor=str(index + 1), done=index == len(pages) - 1)

    register_source(TicketSource(name="rows", title="Rows desk", settings=(Setting("ROWS_URL", "where"),),
                                 fetch=fetch))
    result = import_from_source("rows")
    assert result.ok and result.created == 17, result.error_message

    reports = db.session.scalars(db.select(Report).order_by(Report.id)).all()
    # numbered in the order the tickets came, each in its topic's one problem
    assert [r.external_id for r in reports] == [str(n) for n in range(1, 18)]
    by_topic = {}
    for r in reports:
        by_topic.setdefault(r.text, set()).add(r.problem_id)
    assert sorted(len(ids) for ids in by_topic.values()) == [1, 1, 1, 1]
    problems = db.session.scalars(db.select(Problem.id).order_by(Problem.id)).all()
    assert len(problems) == 4 and problems == list(range(problems[0], problems[0] + 4))  # no gaps in #numbers
    assert [r.grouping for r in reports[:3]] == [None, None, None]  # the first of each topic started it
    assert all(r.grouping == "auto" for r in reports[3:9])  # the same words, same page: joined

    # one "filed" event per report, in filing order; one person per address
    filed = db.session.scalars(db.select(Event.report_id).where(Event.verb == REPORT_FILED).order_by(Event.id)).all()
    assert filed == [r.id for r in reports]
    assert db.session.scalar(db.select(db.func.count(Person.id))) == 5

    # a report filed afterwards by hand follows them (the numbers were taken from the table's own)
    later = submit_report(Submission(text="The lift at the north entrance is stuck again, third time",
                                     person=Filer("Robin")), channel=Channel.API).report
    db.session.commit()
    assert later.id > reports[-1].id and later.problem_id is not None

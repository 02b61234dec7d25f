"""The similarity index's batch (an import page in one transaction): the page's filings see
each other before the commit, other processes see them after it, and a rolled-back page
leaves nothing in this process's copy. SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import pytest

from app import services
from app.extensions import db
from app.grouping.index import DatabaseIndex
from app.models.grouping import SimilarityVector
from tests.unit.test_grouping_engine import filed  # noqa: F401 - a fixture

BARRIER = "The parking barrier does not open for visitors."


def test_a_batch_sees_its_own_filings_before_the_commit_and_others_see_them_after(app_ctx, index, filed):
    other = DatabaseIndex(app_ctx, index.backend)  # another worker's copy of the same database
    assert other.size() == index.size() == 6
    with index.batch():
        first = services.file_report(text=BARRIER, reporter=services.new_reporter(name="Vera"))
        # Not committed, yet the next filing finds it: it joins the same problem.
        second = services.file_report(text=BARRIER + " Again today.", reporter=services.new_reporter(name="Tom"))
        assert second.problem_id == first.problem_id
        assert other.size() == 6  # nothing committed yet
        db.session.commit()
    assert other.size() == 8
    assert other.similar_problems("Visitors cannot get through the car park barrier", limit=1)[0].problem_id \
        == first.problem_id
    stored = db.session.scalars(db.select(SimilarityVector.report_id).where(
        SimilarityVector.report_id.in_([first.id, second.id]))).all()
    assert sorted(stored) == sorted([first.id, second.id])


def test_a_rolled_back_batch_leaves_nothing_in_the_copy(app_ctx, index, filed):
    with pytest.raises(RuntimeError), index.batch():
        report = services.file_report(text=BARRIER, reporter=services.new_reporter(name="Vera"))
        gone = report.problem_id
        assert index.similar_problems("car park barrier", limit=1)[0].problem_id == gone
        raise RuntimeError("the page failed")
    db.session.rollback()

    assert index.size() == 6
    assert all(m.problem_id != gone for m in index.similar_problems("car park barrier", limit=5))
    again = services.file_report(text=BARRIER, reporter=services.new_reporter(name="Vera"))
    db.session.commit()
    assert again.problem_id not in filed.values()  # a new problem, not a ghost of the rolled-back one

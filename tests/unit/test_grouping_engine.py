"""The grouping engine: ranking, thresholds, removal, moves, merges, and a copy per process
that stays right when another process writes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import create_app, services
from app.extensions import db
from app.grouping import AUTO, NEW, REVIEW, Match, SimilarityBackend, decide, similarity_index
from app.grouping.backend import lexical_encode
from app.grouping.index import DatabaseIndex, identifier_marks
from app.grouping.metrics import clustering_scores, percentile
from app.models.grouping import SimilarityChange, SimilarityVector
from app.plugin_api import hookimpl
from app.plugins.manager import PluginError

CARD = [
    "My new card still hasn't arrived after two weeks.",
    "I ordered a card ten days ago and it never came in the post.",
    "How long does it take for my card to be delivered?",
]
REFUND = [
    "I returned the shoes but the refund is not on my account yet.",
    "Still waiting for my refund for an item I sent back last month.",
]
PIN = ["My PIN is blocked after three wrong tries, how do I unblock it?"]


@pytest.fixture
def filed(index, make_report):
    """Reports in three problems, filed and indexed the way the filing service will."""

    def file(texts):
        first = None
        for text in texts:
            report = make_report(text=text, problem=first.problem if first else None)
            index.index_report(report.id, report.problem_id, report.text)
            db.session.commit()
            first = first or report
        return first.problem_id

    return {"card": file(CARD), "refund": file(REFUND), "pin": file(PIN)}


def test_similar_problems_ranks_the_right_problem_first(index, filed):
    matches = index.similar_problems("The card I ordered has not been delivered yet", limit=5)
    assert matches[0].problem_id == filed["card"]
    assert [m.problem_id for m in matches] == list(dict.fromkeys(m.problem_id for m in matches))  # one per problem
    assert len(matches) == 3
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert matches[0].score > 0.8 > matches[-1].score
    assert isinstance(matches[0], Match) and matches[0].report_id is not None
    assert index.similar_problems("Where is my refund?", limit=1)[0].problem_id == filed["refund"]


def test_limit_problem_ids_and_exclusion(index, filed):
    assert len(index.similar_problems("card delivery", limit=2)) == 2
    only = index.similar_problems("card delivery", problem_ids=[filed["refund"], filed["pin"]])
    assert {m.problem_id for m in only} == {filed["refund"], filed["pin"]}
    assert index.similar_problems("card delivery", problem_ids=[]) == []
    (pin_report,) = db.session.scalars(sa.select(SimilarityVector.report_id)
                                       .where(SimilarityVector.problem_id == filed["pin"])).all()
    assert filed["pin"] not in {m.problem_id for m in index.similar_problems(PIN[0], exclude_report_id=pin_report)}


def test_similar_reports_and_neighbours(index, filed):
    reports = index.similar_reports(REFUND[0], limit=2)
    assert len(reports) == 2
    first_id, first_score = reports[0]
    assert first_score == pytest.approx(1.0, abs=0.03)  # the same text
    neighbours = index.report_neighbours(first_id, limit=3)
    assert first_id not in [r for r, _ in neighbours]
    refund_reports = set(db.session.scalars(sa.select(SimilarityVector.report_id)
                                            .where(SimilarityVector.problem_id == filed["refund"])))
    assert neighbours[0][0] in refund_reports


def test_decide_uses_the_two_thresholds(app_ctx, index, filed):
    text = "My card has still not arrived, it has been two weeks."
    best = decide(text).matches[0]
    assert best.problem_id == filed["card"]
    config = app_ctx.config
    saved = config["CARELOOP_GROUPING_AUTO"], config["CARELOOP_GROUPING_REVIEW"]
    try:
        config["CARELOOP_GROUPING_AUTO"], config["CARELOOP_GROUPING_REVIEW"] = best.score, best.score
        decision = decide(text)
        assert (decision.kind, decision.problem_id, decision.score) == (AUTO, filed["card"], best.score)
        assert decision.matches[0] == best
        config["CARELOOP_GROUPING_AUTO"] = min(1.0, best.score + 0.01)
        assert decide(text).kind == REVIEW
        config["CARELOOP_GROUPING_REVIEW"] = min(1.0, best.score + 0.01)
        decision = decide(text)
        assert decision.kind == NEW and decision.problem_id is None
    finally:
        config["CARELOOP_GROUPING_AUTO"], config["CARELOOP_GROUPING_REVIEW"] = saved


def test_default_thresholds_group_a_close_paraphrase_and_not_an_unrelated_text(index, filed):
    assert decide("My new card still hasn't arrived after two weeks!").kind == AUTO
    assert decide("The lift on the third floor is out of order").kind == NEW


def test_a_german_or_arabic_report_finds_the_english_reports_of_its_problem(index, filed):
    # The multilingual model puts a German or Arabic text near its English paraphrase;
    # MiniLM alone reads German as word pieces and Arabic as unknown tokens.
    german = decide("Meine neue Karte ist nach zwei Wochen immer noch nicht angekommen.")
    arabic = decide("لم تصلني بطاقتي الجديدة بعد أسبوعين من الطلب.")
    for decision in (german, arabic):
        assert decision.matches[0].problem_id == filed["card"]
        assert decision.matches[0].score > decision.matches[1].score + 0.1


def test_text_no_model_can_read_is_never_joined_automatically(app_ctx, index, make_report):
    # Georgian is in neither model's vocabulary: even the same words again are only asked about.
    text = "ბარათი ჯერ არ მოსულა ორი კვირის შემდეგ, გთხოვთ დამეხმაროთ"
    first = make_report(text=text)
    index.index_report(first.id, first.problem_id, first.text)
    db.session.commit()
    assert index.understood(text) < 0.5 <= index.understood("Die Karte ist nicht angekommen")
    decision = decide(text + "!")
    assert decision.matches[0].problem_id == first.problem_id
    assert decision.kind == REVIEW


def test_decide_on_a_stored_report_leaves_it_out(index, filed):
    (report_id,) = db.session.scalars(sa.select(SimilarityVector.report_id)
                                      .where(SimilarityVector.problem_id == filed["pin"])).all()
    from app.models import Report

    decision = decide(db.session.get(Report, report_id))
    assert filed["pin"] not in {m.problem_id for m in decision.matches}


def test_remove_report(index, filed):
    (report_id,) = db.session.scalars(sa.select(SimilarityVector.report_id)
                                      .where(SimilarityVector.problem_id == filed["pin"])).all()
    index.remove_report(report_id)
    db.session.commit()
    assert filed["pin"] not in {m.problem_id for m in index.similar_problems(PIN[0])}
    assert report_id not in [r for r, _ in index.similar_reports(PIN[0], limit=10)]
    assert index.size() == len(CARD) + len(REFUND)


def test_move_report_and_move_problem(index, filed, make_report):
    (pin_report,) = db.session.scalars(sa.select(SimilarityVector.report_id)
                                       .where(SimilarityVector.problem_id == filed["pin"])).all()
    index.move_report(pin_report, filed["refund"])
    db.session.commit()
    assert index.similar_problems(PIN[0], limit=1)[0].problem_id == filed["refund"]
    index.move_problem(filed["refund"], filed["card"])  # a merge
    db.session.commit()
    problems = {m.problem_id for m in index.similar_problems("refund", limit=5)}
    assert problems == {filed["card"]}
    assert index.similar_problems(PIN[0], limit=1)[0].problem_id == filed["card"]
    stored = set(db.session.scalars(sa.select(SimilarityVector.problem_id)))
    assert stored == {filed["card"]}
    assert index._n == 6  # moved reports are rewritten in place, not copied


def test_rolled_back_writes_are_never_seen(index, filed):
    before = index.size()
    reporter = services.new_reporter(name="Ana")
    report = services.file_report(text="The parking barrier does not open for visitors.", reporter=reporter)
    index.index_report(report.id, report.problem_id, report.text)
    db.session.flush()
    assert index.size() == before  # not committed: other connections cannot see it
    db.session.rollback()
    assert index.size() == before
    assert index.similar_problems("parking barrier", limit=1)[0].score < 0.6


def test_another_process_writes_and_this_copy_sees_it(app_ctx, index, filed, make_report):
    other = DatabaseIndex(app_ctx, index.backend)  # another worker's copy of the same database
    assert other.size() == index.size() == 6
    report = make_report(text="The parking barrier does not open for visitors.")
    other.index_report(report.id, report.problem_id, report.text)
    db.session.commit()
    assert index.similar_problems("Visitors cannot get through the car park barrier", limit=1)[0].problem_id \
        == report.problem_id
    other.move_problem(report.problem_id, filed["pin"])
    db.session.commit()
    assert index.similar_problems("parking barrier", limit=1)[0].problem_id == filed["pin"]
    index.remove_report(report.id)
    db.session.commit()
    assert other.size() == 6


def test_a_change_committed_out_of_order_is_picked_up(app_ctx, index, filed, make_report):
    """PostgreSQL hands out ids when rows are written, so id 11 may commit before id 10."""
    late = make_report(text="The parking barrier does not open for visitors.")
    early = make_report(text="Nobody answers the phone at the branch in the afternoon.")
    db.session.execute(sa.delete(SimilarityVector).where(SimilarityVector.report_id.in_([late.id, early.id])))
    db.session.commit()
    index.forget()  # (that delete bypassed the change log; a new process starts from the tables)
    assert index.size() == 6
    last = db.session.scalar(sa.select(sa.func.max(SimilarityChange.id)))
    for report in (late, early):
        db.session.add(SimilarityVector(report_id=report.id, problem_id=report.problem_id,
                                        model=index.backend.model, marks=0,
                                        vector=_packed(index, report.text)))
    db.session.add(SimilarityChange(id=last + 2, kind="index", report_id=early.id, problem_id=early.problem_id))
    db.session.commit()
    assert index.size() == 7  # early is seen; id last + 1 is remembered as missing
    db.session.add(SimilarityChange(id=last + 1, kind="index", report_id=late.id, problem_id=late.problem_id))
    db.session.commit()
    assert index.size() == 8
    assert index.similar_problems("parking barrier", limit=1)[0].problem_id == late.problem_id


def test_the_index_survives_a_restart(index, filed):
    before = index.similar_problems(CARD[0], limit=3)
    index.forget()
    assert index.similar_problems(CARD[0], limit=3) == before


def _packed(index, text):
    from app.grouping.index import pack_vector

    return pack_vector(index.backend.encode([text])[0])


def test_identifier_marks():
    assert identifier_marks("no numbers here") == 0
    assert identifier_marks("Release 3.3.5") == identifier_marks("release candidate for 3.3.5")
    assert identifier_marks("Release 3.3.5") != identifier_marks("Release 3.3.1")


def test_lexical_backend_vectors_have_length_one():
    vectors = lexical_encode(["The card reader is broken", "", "Le lecteur de carte est cassé"])
    assert vectors.shape == (3, 1024)
    norms = (vectors ** 2).sum(axis=1)
    assert norms[0] == pytest.approx(1.0) and norms[2] == pytest.approx(1.0)


def test_clustering_scores_match_known_values():
    perfect = clustering_scores(["a", "a", "b"], [1, 1, 2])
    assert perfect["v_measure"] == pytest.approx(1.0) and perfect["ari"] == pytest.approx(1.0)
    assert perfect["pair_f1"] == pytest.approx(1.0)
    scores = clustering_scores([0, 0, 1, 1], [0, 0, 1, 2])  # values as scikit-learn computes them
    assert scores["homogeneity"] == pytest.approx(1.0)
    assert scores["completeness"] == pytest.approx(2 / 3)
    assert scores["v_measure"] == pytest.approx(0.8)
    assert scores["ari"] == pytest.approx(0.5714285714)
    assert scores["pair_precision"] == pytest.approx(1.0) and scores["pair_recall"] == pytest.approx(0.5)
    singletons = clustering_scores(["a", "a", "b", "b"], [1, 2, 3, 4])
    assert singletons["pair_recall"] == 0 and singletons["ari"] == pytest.approx(0.0)
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5], 95) == 5


class UpperCaseBackend:
    """A toy backend: two texts are alike when they have the same letters."""

    @hookimpl
    def register_similarity_backends(self, app):
        import numpy as np

        def encode(texts):
            out = np.zeros((len(texts), 64), np.float32)
            for row, text in enumerate(texts):
                for char in text.lower():
                    if char.isalpha():
                        out[row, ord(char) % 64] += 1
            return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

        return [SimilarityBackend(name="letters", title="Letters", dim=64, model="letters/1",
                                  encode=encode, slope=10.0, intercept=-5.0)]


def test_hook_register_similarity_backends(app):
    extended = create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [UpperCaseBackend()],
                           "CARELOOP_GROUPING_BACKEND": "letters"})
    with extended.app_context():
        index = similarity_index()
        assert index.backend.name == "letters"
        from app.grouping import similarity_backends

        assert {"letters", "minilm", "lexical"} <= set(similarity_backends())
        reporter = services.new_reporter(name="Ana")
        sa_text = "abc abc abc"
        report = services.file_report(text=sa_text, reporter=reporter)
        index.index_report(report.id, report.problem_id, report.text)
        db.session.commit()
        try:
            (match,) = index.similar_problems("cab", limit=5)
            assert match.problem_id == report.problem_id and match.score > 0.99
            assert db.session.get(SimilarityVector, report.id).model == "letters/1"
        finally:
            db.session.execute(sa.delete(SimilarityChange))
            db.session.execute(sa.delete(SimilarityVector))
            db.session.commit()
            from tests.conftest import empty_tables

            empty_tables()


def test_a_plugin_backend_replaces_a_builtin_of_the_same_name(app):
    class Replacement:
        @hookimpl
        def register_similarity_backends(self, app):
            return [SimilarityBackend(name="lexical", title="Mine", dim=8, model="mine/1",
                                      encode=lambda texts: None, slope=1.0, intercept=0.0)]

    replaced = create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [Replacement()]})
    from app.grouping import similarity_backends

    assert similarity_backends(replaced)["lexical"].title == "Mine"
    assert similarity_backends(replaced)["minilm"].dim == 384


def test_unknown_backend_or_duplicate_names_stop_start_up(app):
    with pytest.raises(PluginError, match="'nosuchbackend', which no plugin registers"):
        create_app({**app.config, "CARELOOP_GROUPING_BACKEND": "nosuchbackend"})
    with pytest.raises(PluginError, match="'letters'"):
        create_app({**app.config, "CARELOOP_EXTRA_PLUGINS": [UpperCaseBackend(), UpperCaseBackend()]})
    with pytest.raises(PluginError, match="thresholds"):
        create_app({**app.config, "CARELOOP_GROUPING_AUTO": 0.5, "CARELOOP_GROUPING_REVIEW": 0.7})


def test_an_emptied_or_restored_log_reloads_the_copy(index, filed, make_report):
    assert index.size() == 6
    from tests.conftest import empty_tables

    empty_tables()  # as a restore from an older backup would: ids start again at 1
    report = make_report(text="The parking barrier does not open for visitors.")
    index.index_report(report.id, report.problem_id, report.text)
    db.session.commit()
    assert index.size() == 1
    assert index.similar_problems(CARD[0], limit=5)[0].problem_id == report.problem_id


def test_reindex_command_encodes_every_report(index, make_report, runner):
    for text in CARD + REFUND:
        make_report(text=text)
    db.session.execute(sa.delete(SimilarityVector))  # as after changing the backend
    db.session.commit()
    index.forget()
    assert index.size() == 0
    result = runner.invoke(args=["grouping-reindex", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "Indexed 5 reports with the hybrid backend." in result.output
    assert index.size() == 5


def test_vectors_of_another_model_are_named_until_reindexed(index, make_report, runner, caplog):
    """After an upgrade that changes the model, the old vectors are left out; the log says
    how many and what to run, so grouping does not just look broken."""
    for text in CARD:
        make_report(text=text)
    db.session.execute(sa.update(SimilarityVector).values(model="an-older-model/1"))
    db.session.commit()
    index.forget()
    with caplog.at_level("WARNING", logger="app.grouping.index"):
        assert index.size() == 0
    assert f"{len(CARD)} reports are left out of grouping" in caplog.text
    assert "careloop grouping-reindex" in caplog.text
    caplog.clear()
    assert runner.invoke(args=["grouping-reindex"]).exit_code == 0
    index.forget()
    with caplog.at_level("WARNING", logger="app.grouping.index"):
        assert index.size() == len(CARD)
    assert "left out of grouping" not in caplog.text


def test_a_primed_page_gives_the_same_vectors_and_matches_as_one_by_one(index, filed):
    """An import encodes its page in one batch; what each report finds must not change."""
    texts = ["Card ordered two weeks ago, still not delivered", "Refund for returned shoes is missing",
             "PIN blocked after three wrong attempts"]
    one_by_one = [index.backend.encode([text])[0] for text in texts]
    expected = [index.similar_problems(text, limit=3) for text in texts]
    index.forget()
    index.prime(texts)
    for text, vector, matches in zip(texts, one_by_one, expected):
        primed, _ = index.encode(text)
        assert float(primed @ vector) > 0.9999
        assert [m.problem_id for m in index.similar_problems(text, limit=3)] == [m.problem_id for m in matches]
    assert [m.problem_id for m in expected[0]][0] == filed["card"]

"""``careloop grouping-eval`` on a tiny labelled file: the JSON it prints, and sane values."""

from __future__ import annotations

import csv
import json

ROWS = [
    ("My card has not arrived yet.", "card_arrival"),
    ("I am still waiting for my new card to arrive.", "card_arrival"),
    ("My card still hasn't arrived, it has been two weeks.", "card_arrival"),
    ("When will my card be delivered?", "card_arrival"),
    ("I was charged twice for the same purchase.", "double_charge"),
    ("There are two identical payments for one purchase on my statement.", "double_charge"),
    ("The same payment was taken twice from my account.", "double_charge"),
    ("How do I change my PIN?", "change_pin"),
    ("I want to change the PIN on my card.", "change_pin"),
    ("Where can I set a new PIN?", "change_pin"),
    ("The app crashes when I open it.", "app_crash"),
]

KEYS = {"hit_at_1", "hit_at_5", "auto_attach_precision", "auto_attach_rate", "review_rate", "v_measure",
        "ari", "pair_precision", "pair_recall", "pair_f1", "reports_per_s", "suggest_ms_p50",
        "suggest_ms_p95", "peak_rss_mb"}


def test_grouping_eval_prints_one_json_object(runner, tmp_path):
    path = tmp_path / "tiny.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(ROWS)
    result = runner.invoke(args=["grouping-eval", str(path), "--text-column", "text", "--label-column", "category"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert KEYS <= set(figures)
    assert figures["reports"] == len(ROWS) and figures["skipped"] == 0
    for key in KEYS - {"reports_per_s", "suggest_ms_p50", "suggest_ms_p95", "peak_rss_mb"}:
        assert 0.0 <= figures[key] <= 1.0, key
    assert figures["ari"] >= -1
    assert figures["hit_at_5"] >= 0.8  # ten of the rows have an obvious paraphrase in the file
    assert figures["auto_attach_rate"] + figures["review_rate"] <= 1.0
    assert 1 <= figures["problems"] <= len(ROWS)
    assert figures["reports_per_s"] > 0 and figures["suggest_ms_p95"] >= figures["suggest_ms_p50"] > 0
    assert figures["peak_rss_mb"] > 0


def test_grouping_eval_names_a_missing_column(runner, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("body,label\nhello,a\n")
    result = runner.invoke(args=["grouping-eval", str(path)])
    assert result.exit_code != 0
    assert "has no column text, category" in result.output

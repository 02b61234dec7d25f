"""Clustering scores for ``careloop grouping-eval``: V-measure, adjusted Rand index and
pair precision/recall/F1 of the final problems against the labels. Plain Python."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _entropy(counts, total: int) -> float:
    return -sum(c / total * math.log(c / total) for c in counts if c)


def clustering_scores(labels: Sequence, clusters: Sequence) -> dict[str, float]:
    """Compare a clustering with the true labels (two sequences of the same length)."""
    if len(labels) != len(clusters):
        raise ValueError("labels and clusters differ in length")
    n = len(labels)
    if n == 0:
        return {k: 0.0 for k in ("homogeneity", "completeness", "v_measure", "ari",
                                 "pair_precision", "pair_recall", "pair_f1")}
    joint = Counter(zip(labels, clusters))
    by_label = Counter(labels)
    by_cluster = Counter(clusters)

    h_label = _entropy(by_label.values(), n)
    h_cluster = _entropy(by_cluster.values(), n)
    # conditional entropies H(label | cluster) and H(cluster | label)
    h_label_given_cluster = -sum(c / n * math.log(c / by_cluster[k]) for (_, k), c in joint.items())
    h_cluster_given_label = -sum(c / n * math.log(c / by_label[l]) for (l, _), c in joint.items())
    homogeneity = 1.0 if h_label == 0 else 1 - h_label_given_cluster / h_label
    completeness = 1.0 if h_cluster == 0 else 1 - h_cluster_given_label / h_cluster
    v = 0.0 if homogeneity + completeness == 0 else 2 * homogeneity * completeness / (homogeneity + completeness)

    together = sum(_pairs(c) for c in joint.values())
    same_label = sum(_pairs(c) for c in by_label.values())
    same_cluster = sum(_pairs(c) for c in by_cluster.values())
    total = _pairs(n)
    expected = same_label * same_cluster / total if total else 0.0
    maximum = (same_label + same_cluster) / 2
    ari = 1.0 if maximum == expected else (together - expected) / (maximum - expected)
    precision = together / same_cluster if same_cluster else 1.0
    recall = together / same_label if same_label else 1.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "homogeneity": homogeneity,
        "completeness": completeness,
        "v_measure": v,
        "ari": ari,
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": f1,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as NumPy's default."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

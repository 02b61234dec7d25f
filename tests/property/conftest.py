"""Hypothesis settings for the property-based tests: bounded runs, no deadlines (the
first example loads the grouping model), and in CI the same examples every run."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Examples share one test's app and database (the tests compare counts before and after each one).
_COMMON = {"deadline": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=60, derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", max_examples=100, database=None, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

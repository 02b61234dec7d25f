"""A plugin's clock and sleep for tests: sleeping moves the clock, instantly."""

from __future__ import annotations


class FakeTime:
    def __init__(self, start: float = 50_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

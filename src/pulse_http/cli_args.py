"""Argument types of the ``pulse`` command: a flag outside its bounds is a usage error
(exit 2) naming the flag, as the variable it stands for is a configuration error."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pulse_http.setting_bounds import BOUNDS


def within(setting: str) -> Callable[[str], int]:
    """An argparse type: an integer within the bounds of ``setting`` (setting_bounds)."""
    low, high = BOUNDS[setting]

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}, not {value}")
        return value

    return parse


def seconds_allowed(text: str) -> float:
    """An argparse type: a time allowed, more than 0 and at most a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86_400:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 86400, not {text}")
    return value

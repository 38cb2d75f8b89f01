"""Place rules: which city or location strings mean "no place", i.e. a remote job."""

from __future__ import annotations

import re

_REMOTE_PLACES = frozenset(
    {
        "remote",
        "fullyremote",
        "remoteonly",
        "anywhere",
        "homeoffice",
        "workfromhome",
        "zdalnie",
        "pracazdalna",
    }
)


def is_remote_place(text: str) -> bool:
    """Does a city or location string mean "no place", i.e. a remote job ("Remote", "zdalnie")?"""
    return re.sub(r"[\W_]+", "", text).casefold() in _REMOTE_PLACES

"""What the vector index knows of each row besides its vector, as numpy arrays by position.

A posting's facts (PostingMeta) are what the context bonus, the listed rule, the listing type
and a reader's filters read; each row also carries the state of its cached similar list (how
many entries, the lowest score). Holding them as small arrays lets a query test every row with
a few vector operations. Strings are interned as small ints, so equality is an int compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from jobsim.context_bonus import (
    FLAG_CODES,
    LEVEL_INDEX,
    NEAR,
    SAME_CATEGORY,
    SAME_PLACE,
    SAME_REGION,
    ContextBonus,
    FloatArray,
    context_table,
    flag_tables,
    level_table,
)
from jobsim.postings.listed import is_unexpired

Rows = slice | npt.NDArray[np.intp]  # all rows (a slice) or some, by position
_NO_EXPIRY = np.inf
_UNSEEN = int(np.iinfo(np.int32).max)  # a code no row holds: codes count up from 0


@dataclass(frozen=True)
class PostingMeta:
    """What the context bonus and the listed filter need to know about a posting."""

    category: str | None = None
    city: str | None = None
    region: str | None = None
    remote: bool = False
    experience_level: str | None = None
    company: str | None = None
    listed: bool = True  # active and not deleted (jobsim.postings.listed.is_active)
    expires_at: datetime | None = None
    listing_type: str = "job"  # lists never mix listing types

    def listed_at(self, now: datetime) -> bool:
        return self.listed and is_unexpired(self.expires_at, now)


class _Codes:
    """Interns strings as small ints so equality tests run on numpy arrays."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if not value:
            return -1
        key = value.strip().casefold()
        return self._codes.setdefault(key, len(self._codes))

    def lookup(self, value: str | None) -> int:
        """The code of a string a row holds; a string no row holds gets one that matches no
        row, and is not kept (queries must not grow the table)."""
        if not value:
            return -1
        return self._codes.get(value.strip().casefold(), _UNSEEN)


class RowFacts:
    """Each row's PostingMeta (as written, and as arrays) and its cached list's state."""

    def __init__(self, capacity: int) -> None:
        self.metas: list[PostingMeta] = []
        self._level = np.full(capacity, -1, dtype=np.int8)
        self._category = np.full(capacity, -1, dtype=np.int32)
        self._city = np.full(capacity, -1, dtype=np.int32)
        self._region = np.full(capacity, -1, dtype=np.int32)
        self._company = np.full(capacity, -1, dtype=np.int32)
        self._remote = np.zeros(capacity, dtype=bool)
        self._listed = np.zeros(capacity, dtype=bool)
        self._expires = np.full(capacity, _NO_EXPIRY, dtype=np.float64)
        self._type = np.full(capacity, -1, dtype=np.int16)
        # Each row's cached list: its size and its lowest score (-inf while not full).
        self.list_count = np.zeros(capacity, dtype=np.int32)
        self.list_floor = np.full(capacity, -np.inf, dtype=np.float32)
        # Each row's bar for a new entry (see entry_bars), with the (top_n, min_score) it is for.
        self._bars: tuple[tuple[int, float], FloatArray] | None = None
        self._strings = _Codes()
        self._types = _Codes()

    def grow(self, capacity: int) -> None:
        """Room for `capacity` rows; a new row has no facts and an empty list."""
        self._level = grown(self._level, capacity, -1)
        self._category = grown(self._category, capacity, -1)
        self._city = grown(self._city, capacity, -1)
        self._region = grown(self._region, capacity, -1)
        self._company = grown(self._company, capacity, -1)
        self._remote = grown(self._remote, capacity, False)
        self._listed = grown(self._listed, capacity, False)
        self._expires = grown(self._expires, capacity, _NO_EXPIRY)
        self._type = grown(self._type, capacity, -1)
        self.list_count = grown(self.list_count, capacity, 0)
        self.list_floor = grown(self.list_floor, capacity, -np.inf)
        self._bars = None

    def write(self, position: int, meta: PostingMeta) -> None:
        """Set the facts of the row at `position` (the next new row at len(metas))."""
        if position == len(self.metas):
            self.metas.append(meta)
        else:
            self.metas[position] = meta
        self._level[position] = LEVEL_INDEX.get(meta.experience_level or "", -1)
        self._category[position] = self._strings.code(meta.category)
        self._city[position] = self._strings.code(meta.city)
        self._region[position] = self._strings.code(meta.region)
        self._company[position] = self._strings.code(meta.company)
        self._remote[position] = meta.remote
        self._listed[position] = meta.listed
        self._expires[position] = meta.expires_at.timestamp() if meta.expires_at else _NO_EXPIRY
        self._type[position] = self._types.code(meta.listing_type)

    def set_list_state(self, position: int, count: int, floor: float | None) -> None:
        self.list_count[position] = count
        self.list_floor[position] = -np.inf if floor is None else floor
        bars = self._bars
        if bars is not None:
            (top_n, min_score), values = bars
            values[position] = _entry_bar(count, self.list_floor[position], top_n, min_score)

    def entry_bars(self, top_n: int, min_score: float, n: int) -> FloatArray:
        """The first `n` rows' bar for a new entry in their list: the minimum score, or a full
        list's floor where that is higher. Kept in step by set_list_state, so a query compares
        against it instead of building it from every row's list state."""
        key = (top_n, min_score)
        bars = self._bars
        if bars is None or bars[0] != key:
            full = self.list_count >= top_n
            floors = np.maximum(self.list_floor, np.float32(min_score))
            bars = (key, np.where(full, floors, np.float32(min_score)).astype(np.float32))
            self._bars = bars
        return bars[1][:n]

    def candidates(self, now: datetime, r: Rows) -> npt.NDArray[np.bool_]:
        """Rows that may appear in a list right now: the listed rule (jobsim.postings.listed)."""
        result: npt.NDArray[np.bool_] = self._listed[r] & (self._expires[r] > now.timestamp())
        return result

    def of_type(self, listing_type: str, r: Rows) -> npt.NDArray[np.bool_]:
        same: npt.NDArray[np.bool_] = self._type[r] == self._types.lookup(listing_type)
        return same

    def filtered(
        self, n: int, *, remote_only: bool, city: str | None, exclude_company: str | None
    ) -> npt.NDArray[np.bool_]:
        """Which of the first `n` rows a reader's filters keep."""
        kept = np.ones(n, dtype=bool)
        if remote_only:
            kept &= self._remote[:n]
        if city is not None:
            kept &= self._city[:n] == self._strings.lookup(city)
        if exclude_company:
            kept &= self._company[:n] != self._strings.lookup(exclude_company)
        return kept

    def context_parts(
        self, meta: PostingMeta, bonus: ContextBonus, r: Rows
    ) -> dict[str, FloatArray]:
        """The parts of `meta`'s context bonus against rows `r`: experience level, category
        and location (city, remote, region), each under `bonus`'s weights."""
        flags = self._context_flags(meta, r)
        category, location = flag_tables(bonus)
        return {
            "experience_level": level_table(meta.experience_level, bonus).take(self._level[r] + 1),
            "category": category.take(flags),
            "location": location.take(flags),
        }

    def context_scores(self, meta: PostingMeta, bonus: ContextBonus, r: Rows) -> FloatArray:
        """The context bonus of `meta` against rows `r`, in [0, 1]: the sum of its parts,
        read from a table by each row's level and flags: one gather instead of a float array
        per part."""
        code = (self._level[r] + 1).astype(np.uint8) * np.uint8(FLAG_CODES)
        code |= self._context_flags(meta, r)
        scores: FloatArray = context_table(meta.experience_level, bonus).take(code)
        return scores

    def _context_flags(self, meta: PostingMeta, r: Rows) -> npt.NDArray[np.uint8]:
        """Each row's context facts against `meta`, as bits (jobsim.context_bonus): same
        category; same place (same city, or both remote); near (either city unknown, or
        either side remote); same region."""
        cities, remotes = self._city[r], self._remote[r]
        flags = np.zeros(len(cities), dtype=np.uint8)
        category = self._strings.lookup(meta.category)
        if category >= 0:
            flags |= (self._category[r] == category).view(np.uint8) * np.uint8(SAME_CATEGORY)
        city = self._strings.lookup(meta.city)
        same_place = remotes if meta.remote else np.zeros(len(cities), dtype=bool)
        if city >= 0:
            same_place = same_place | (cities == city)
        flags |= same_place.view(np.uint8) * np.uint8(SAME_PLACE)
        if city < 0 or meta.remote:
            flags |= np.uint8(NEAR)
        else:
            flags |= ((cities < 0) | remotes).view(np.uint8) * np.uint8(NEAR)
        region = self._strings.lookup(meta.region)
        if region >= 0:
            flags |= (self._region[r] == region).view(np.uint8) * np.uint8(SAME_REGION)
        return flags


def _entry_bar(count: int, floor: np.float32, top_n: int, min_score: float) -> np.float32:
    """One row's entry bar, as RowFacts.entry_bars computes it for every row."""
    bar = np.float32(min_score)
    return max(floor, bar) if count >= top_n else bar


def grown(array: npt.NDArray[Any], capacity: int, fill: object) -> npt.NDArray[Any]:
    """`array` in a larger one of `capacity` rows, the new rows set to `fill`. Zeros come
    from the allocator untouched: rows not yet used take no memory."""
    bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    if fill:
        bigger[len(array) :] = fill
    bigger[: len(array)] = array
    return bigger

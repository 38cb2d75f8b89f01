"""Parse posting files for `jobsim import`: JSON, JSON Lines, CSV and MongoDB `mongoexport` output.

Parsing only: every record comes out under the canonical field names (see `normalize_record`) and
the posting model validates it afterwards. A bad record becomes an `ImportRecord` with an error
that names its line and what is wrong, and reading goes on; a file that cannot be read at all
raises `ValidationFailed`.
"""

from __future__ import annotations

from jobsim.importing.fields import normalize_record
from jobsim.importing.formats import detect_format, read_records
from jobsim.importing.records import ImportRecord

__all__ = ["ImportRecord", "detect_format", "normalize_record", "read_records"]

"""Import parsing: JSON, JSON Lines, CSV and mongoexport files written to disk and read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobsim.errors import ValidationFailed
from jobsim.importing import ImportRecord, detect_format, normalize_record, read_records

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "jobsim" / "data" / "sample_postings.jsonl"
MAJOR_GROUPS = {
    "Managers",
    "Professionals",
    "Technicians and associate professionals",
    "Clerical support workers",
    "Service and sales workers",
    "Skilled agricultural, forestry and fishery workers",
    "Craft and related trades workers",
    "Plant and machine operators and assemblers",
    "Elementary occupations",
    "Armed forces occupations",
}
DESCRIPTION = "Builds and maintains the web services of a busy job board."


def posting(number: int, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {"id": f"job-{number}", "title": f"Engineer {number}"}
    return base | {"description": DESCRIPTION} | extra


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def read(path: Path, fmt: str | None = None) -> list[ImportRecord]:
    return list(read_records(path, fmt))


def data_of(records: list[ImportRecord]) -> list[dict[str, object]]:
    assert [r.error for r in records] == [None] * len(records)
    return [r.data for r in records if r.data is not None]


# --------------------------------------------------------------------------- JSON


def test_a_json_array_yields_one_record_per_posting(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.json", json.dumps([posting(1), posting(2)], indent=2))

    records = read(path)

    assert [d["id"] for d in data_of(records)] == ["job-1", "job-2"]
    assert records[0].source == "jobs.json:2 (item 1)"


def test_a_jobs_wrapper_object_is_unwrapped(tmp_path: Path) -> None:
    document = {"meta": {"jobs": "not these"}, "jobs": [posting(1), posting(2), posting(3)]}
    path = write(tmp_path, "export.json", json.dumps(document))

    assert [d["title"] for d in data_of(read(path))] == ["Engineer 1", "Engineer 2", "Engineer 3"]


def test_a_single_json_object_is_one_posting(tmp_path: Path) -> None:
    path = write(tmp_path, "one.json", json.dumps(posting(7), indent=2))

    assert data_of(read(path)) == [posting(7)]


def test_an_item_that_is_not_an_object_is_an_error_and_the_rest_still_come_through(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "jobs.json", json.dumps([posting(1), "oops", posting(3)], indent=1))

    records = read(path)

    assert [r.data is not None for r in records] == [True, False, True]
    assert records[1].error is not None
    assert "item 2" in records[1].error and "expected a JSON object" in records[1].error


def test_a_broken_json_document_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.json", '[\n  {"id": "a"},\n  {"id": }\n]')

    with pytest.raises(ValidationFailed, match=r"not valid JSON.*line 3"):
        read(path)


def test_a_json_scalar_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.json", '"just a string"')

    with pytest.raises(ValidationFailed, match="expected a JSON array"):
        read(path)


# --------------------------------------------------------------------------- JSON Lines


def test_a_broken_jsonl_line_is_reported_and_the_other_lines_still_come_through(
    tmp_path: Path,
) -> None:
    lines = [json.dumps(posting(1)), json.dumps(posting(2)), '{"id": "job-3", "title": ', ""]
    lines += [json.dumps(posting(4))]
    path = write(tmp_path, "jobs.jsonl", "\n".join(lines) + "\n")

    records = read(path)

    good = [r.data["id"] for r in records if r.data is not None]
    assert good == ["job-1", "job-2", "job-4"]
    broken = [r for r in records if r.error is not None]
    assert len(broken) == 1
    assert broken[0].source == "jobs.jsonl:3"
    assert broken[0].error is not None and broken[0].error.startswith("line 3: invalid JSON")
    assert records[-1].source == "jobs.jsonl:5"


MONGOEXPORT_LINES = [
    {
        "_id": {"$oid": "65a1b2c3d4e5f60718293a4b"},
        "title": "Senior Backend Developer",
        "description": "Design and run the Node.js services behind our job board.",
        "category": "Engineering",
        "tags": ["node", "mongodb"],
        "requirements": ["5 years of Node.js", "MongoDB in production"],
        "location": {"city": "Tirana", "region": "Tirana County", "remote": False, "hybrid": True},
        "experienceLevel": "senior",
        "salary": {"min": {"$numberInt": "1500"}, "max": {"$numberInt": "2500"}, "currency": "EUR"},
        "postedBy": {"$oid": "65a1b2c3d4e5f60718290000"},
        "status": "active",
        "isDeleted": False,
        "expiresAt": {"$date": "2030-01-31T12:00:00.000Z"},
        "viewCount": {"$numberInt": "12"},
        "createdAt": {"$date": "2024-01-01T08:00:00.000Z"},
        "embedding": {"status": "completed", "language": "en"},
        "__v": {"$numberInt": "0"},
    },
    {
        "_id": {"$oid": "65a1b2c3d4e5f60718293a4c"},
        "title": "Kamarier",
        "description": "Shërbim klientësh në restorant në qendër të qytetit.",
        "category": "Hospitality",
        "experienceLevel": "entry",
        "salary": {"min": {"$numberLong": "400"}, "max": {"$numberDouble": "650.5"}},
        "expiresAt": {"$date": {"$numberLong": "1893456000000"}},
        "isDeleted": True,
    },
]


def test_mongoexport_lines_are_unwrapped_and_mapped_to_canonical_names(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(line) for line in MONGOEXPORT_LINES) + "\n"
    path = write(tmp_path, "jobs.json", text)  # mongoexport writes lines even into *.json

    first, second = data_of(read(path))

    assert first == {
        "id": "65a1b2c3d4e5f60718293a4b",
        "title": "Senior Backend Developer",
        "description": "Design and run the Node.js services behind our job board.",
        "category": "Engineering",
        "tags": ["node", "mongodb"],
        "requirements": ["5 years of Node.js", "MongoDB in production"],
        "location": {"city": "Tirana", "region": "Tirana County", "remote": False, "hybrid": True},
        "experience_level": "senior",
        "salary": {"min": 1500, "max": 2500, "currency": "EUR"},
        "status": "active",
        "expires_at": datetime(2030, 1, 31, 12, 0, tzinfo=UTC),
        "is_deleted": False,
    }
    assert second["salary"] == {"min": 400, "max": 650.5}
    assert second["expires_at"] == datetime(2030, 1, 1, tzinfo=UTC)
    assert second["is_deleted"] is True
    assert "company" not in second and "location" not in second


def test_a_mongoexport_json_array_is_read_like_the_lines(tmp_path: Path) -> None:
    text = "[" + ",".join(json.dumps(line) for line in MONGOEXPORT_LINES) + "]"
    path = write(tmp_path, "jobs.json", text)  # mongoexport --jsonArray: all on one line

    records = read(path)

    assert [d["id"] for d in data_of(records)] == [
        "65a1b2c3d4e5f60718293a4b",
        "65a1b2c3d4e5f60718293a4c",
    ]
    assert [r.source for r in records] == ["jobs.json:1 (item 1)", "jobs.json:1 (item 2)"]


def test_pretty_mongoexport_documents_one_after_another_are_read(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(line, indent=2) for line in MONGOEXPORT_LINES)
    path = write(tmp_path, "jobs.json", text)

    records = read(path)

    assert len(data_of(records)) == 2
    assert records[1].source.startswith("jobs.json:")


# --------------------------------------------------------------------------- CSV

CSV_TEXT = (
    "\ufeffid,title,description,company,tags,location,remote,experience_level,"
    "salary_min,salary_max,salary_currency,favourite_colour\r\n"
    'c-1,Data Analyst,"Turns raw numbers into decisions.\r\nWorks with SQL, Python and '
    'dashboards.",Acme,sql|python|tableau,"Kraków, małopolskie",yes,Mid,6000,9000,pln,blue\r\n'
    "c-2,Nurse,Cares for patients on the cardiology ward of the hospital.,,,Berlin,NO,,,,,\r\n"
)


def test_a_csv_file_is_normalised_with_bom_quotes_and_unknown_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.csv", CSV_TEXT)

    records = read(path)

    first, second = data_of(records)
    assert first == {
        "id": "c-1",
        "title": "Data Analyst",
        "description": "Turns raw numbers into decisions.\r\n"
        "Works with SQL, Python and dashboards.",
        "company": "Acme",
        "tags": ["sql", "python", "tableau"],
        "location": {"city": "Kraków", "region": "małopolskie", "remote": True},
        "experience_level": "mid",
        "salary": {"min": 6000, "max": 9000, "currency": "PLN"},
    }
    assert second == {
        "id": "c-2",
        "title": "Nurse",
        "description": "Cares for patients on the cardiology ward of the hospital.",
        "location": {"city": "Berlin", "remote": False},
    }


def test_csv_sources_count_the_header_as_line_one_and_point_at_where_a_row_starts(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "jobs.csv", CSV_TEXT)

    assert [r.source for r in read(path)] == ["jobs.csv:2", "jobs.csv:4"]


def test_a_csv_row_with_too_many_fields_is_an_error_naming_its_line(tmp_path: Path) -> None:
    text = "id,title,description\nr-1,Cook,Prepares meals\nr-2,Baker,Bakes, bread, daily\n"
    path = write(tmp_path, "jobs.csv", text)

    records = read(path)

    assert records[0].error is None
    assert records[1].data is None
    assert records[1].error is not None
    assert records[1].error.startswith("line 3: the row has 5 fields but the header has 3")


def test_a_semicolon_csv_with_a_salary_range_and_json_cells_is_understood(tmp_path: Path) -> None:
    text = (
        "_id;Title;Tags;Requirements;Location;Salary;expiresAt;isDeleted\n"
        'ObjectId(65a1b2c3d4e5f60718293a4b);Welder;["tig", "mig"];'
        "Certificate|Two years;"
        '"{""city"": ""Gdańsk"", ""hybrid"": ""true""}";4 000 - 6 500 PLN;2030-06-01;0\n'
    )
    path = write(tmp_path, "export.csv", text)

    (data,) = data_of(read(path))

    assert data == {
        "id": "65a1b2c3d4e5f60718293a4b",
        "title": "Welder",
        "tags": ["tig", "mig"],
        "requirements": ["Certificate", "Two years"],
        "location": {"city": "Gdańsk", "hybrid": True},
        "salary": {"min": 4000, "max": 6500, "currency": "PLN"},
        "expires_at": datetime(2030, 6, 1, tzinfo=UTC),
        "is_deleted": False,
    }


def test_a_utf16_csv_from_excel_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.csv", "id\ttitle\nu-1\tŁódź courier\n", encoding="utf-16")

    assert data_of(read(path)) == [{"id": "u-1", "title": "Łódź courier"}]


# --------------------------------------------------------------------------- files that fail


@pytest.mark.parametrize("name", ["jobs.json", "jobs.jsonl", "jobs.csv", "jobs.txt"])
def test_an_empty_file_is_rejected(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "  \n")

    with pytest.raises(ValidationFailed, match="is empty"):
        read(path)


def test_a_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="cannot read"):
        read(tmp_path / "nope.json")


def test_a_file_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_bytes("id,title\n1,Kierowca wózka\n".encode("cp1250") + b"\x9c\xff\n")

    with pytest.raises(ValidationFailed, match="not valid UTF-8"):
        read(path)


def test_an_unknown_format_name_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.csv", CSV_TEXT)

    with pytest.raises(ValidationFailed, match="unknown import format"):
        read(path, "xml")


def test_an_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.txt", json.dumps(posting(1)) + "\n" + json.dumps(posting(2)))

    assert len(data_of(read(path, "JSONL"))) == 2


# --------------------------------------------------------------------------- format detection


@pytest.mark.parametrize(
    ("name", "sample", "expected"),
    [
        ("a.json", '[{"id": 1}]', "json"),
        ("a.json", '{"jobs": []}', "json"),
        ("a.json", '{\n  "jobs": []\n}', "json"),
        ("a.json", '{"id": 1}\n{"id": 2}\n', "jsonl"),
        ("a.JSONL", "anything", "jsonl"),
        ("a.ndjson", '{"id": 1}', "jsonl"),
        ("a.csv", '[{"id": 1}]', "csv"),
        ("export", '\ufeff  [{"id": 1}]', "json"),
        ("export", '{"id": 1}\n{"id": 2}', "jsonl"),
        ("export", '{"id": 1}', "json"),
        ("export", "id,title\n1,x\n", "csv"),
    ],
)
def test_the_format_is_detected_from_extension_then_content(
    name: str, sample: str, expected: str
) -> None:
    assert detect_format(Path(name), sample) == expected


# --------------------------------------------------------------------------- normalize_record


def test_absent_and_empty_fields_stay_absent_and_unknown_keys_are_dropped() -> None:
    raw = {"title": "  Cook ", "description": "", "company": None, "tags": "", "colour": "red"}

    assert normalize_record(raw) == {"title": "Cook"}


def test_camel_snake_and_flat_names_map_to_the_same_fields() -> None:
    camel = {"experienceLevel": "Lead", "expiresAt": "2031-02-03T04:05:06", "isDeleted": "true"}
    snake = {"experience_level": "Lead", "expires_at": "2031-02-03T04:05:06", "is_deleted": "1"}
    flat = {"salaryMin": "1 200,50", "salary_max": 2000, "currency": "eur", "city": "Wien"}

    expected = {
        "experience_level": "lead",
        "expires_at": datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC),
        "is_deleted": True,
    }
    assert normalize_record(camel) == expected
    assert normalize_record(snake) == expected
    assert normalize_record(flat) == {
        "location": {"city": "Wien"},
        "salary": {"min": 1200.5, "max": 2000, "currency": "EUR"},
    }


def test_flat_columns_complete_a_nested_location_and_salary() -> None:
    raw = {
        "location": {"city": "Paris"},
        "remote": "yes",
        "salary": {"min": 100},
        "salary_max": "200",
    }

    assert normalize_record(raw) == {
        "location": {"city": "Paris", "remote": True},
        "salary": {"min": 100, "max": 200},
    }


@pytest.mark.parametrize(
    ("salary", "expected"),
    [
        ("5000", {"min": 5000, "max": 5000}),
        (5000, {"min": 5000, "max": 5000}),
        ("€4,000 to €6,000", {"min": 4000, "max": 6000, "currency": "EUR"}),
        ("4.000,00-5.500,00 EUR", {"min": 4000.0, "max": 5500.0, "currency": "EUR"}),
        ("negotiable", None),
        ("EUR 4000 - 5000 USD", None),
    ],
)
def test_a_salary_text_is_parsed_when_clear_and_dropped_otherwise(
    salary: object, expected: dict[str, object] | None
) -> None:
    assert normalize_record({"salary": salary}).get("salary") == expected


def test_wrong_types_are_kept_for_the_validator_to_reject() -> None:
    raw = {"title": 42, "tags": {"a": 1}, "remote": "sometimes", "salary": [1, 2]}

    assert normalize_record(raw) == {
        "title": 42,
        "tags": {"a": 1},
        "location": {"remote": "sometimes"},
        "salary": [1, 2],
    }


def test_extended_json_wrappers_are_unwrapped_at_any_depth() -> None:
    raw = {
        "id": {"$numberLong": "9007199254740993"},
        "tags": [{"$oid": "65a1b2c3d4e5f60718293a4b"}],
        "location": {"city": "Oslo", "remote": {"$numberInt": "1"}},
        "salary": {"min": {"$numberDecimal": "10.5"}, "max": {"$numberDecimal": "12"}},
        "expires_at": {"$date": 0},
    }

    assert normalize_record(raw) == {
        "id": "9007199254740993",
        "tags": ["65a1b2c3d4e5f60718293a4b"],
        "location": {"city": "Oslo", "remote": True},
        "salary": {"min": 10.5, "max": 12},
        "expires_at": datetime(1970, 1, 1, tzinfo=UTC),
    }


def test_an_aware_expiry_is_converted_to_utc_and_a_bad_one_is_left_for_the_validator() -> None:
    aware = normalize_record({"expires_at": "2030-01-01T02:00:00+02:00"})
    bad = normalize_record({"expiresAt": "next tuesday"})

    assert aware["expires_at"] == datetime(2030, 1, 1, tzinfo=UTC)
    assert bad["expires_at"] == "next tuesday"


def test_a_location_string_remote_means_remote() -> None:
    assert normalize_record({"location": "Remote"}) == {"location": {"remote": True}}


def test_comma_separated_tags_are_split_but_requirements_keep_their_commas() -> None:
    raw = {"tags": "python, sql", "requirements": "Python, Django and SQL"}

    assert normalize_record(raw) == {
        "tags": ["python", "sql"],
        "requirements": ["Python, Django and SQL"],
    }


# --------------------------------------------------------------------------- shipped sample


def test_the_shipped_sample_parses_with_unique_ids_and_major_group_categories() -> None:
    records = read(SAMPLE)

    postings = data_of(records)
    ids = [p["id"] for p in postings]
    assert 300 <= len(postings) <= 500
    assert len(set(ids)) == len(ids)
    assert {p["category"] for p in postings} <= MAJOR_GROUPS
    assert all(isinstance(p["description"], str) and len(p["description"]) >= 20 for p in postings)

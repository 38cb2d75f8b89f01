from __future__ import annotations

import pytest

from jobsim.language import MIXED, UNKNOWN, detect_language


@pytest.mark.parametrize(
    ("title", "description", "expected"),
    [
        (
            "Senior Python Developer",
            "We are looking for a Python developer to build our "
            "backend services with FastAPI and PostgreSQL.",
            "en",
        ),
        (
            "Magazynier",
            "Zatrudnimy magazyniera na jedną zmianę. Oferujemy umowę o pracę i pakiet medyczny.",
            "pl",
        ),
        (
            "Zhvillues Softueri",
            "Kërkojmë zhvillues softueri me përvojë në Tiranë. Do të "
            "punoni me ekipin tonë të zhvillimit.",
            "sq",
        ),
        (
            "Разработчик Python",
            "Мы ищем опытного разработчика Python в команду бэкенда. Удалённая работа.",
            "ru",
        ),
        ("高级软件工程师", "我们正在招聘一名高级软件工程师，负责后端服务开发。", "zh"),
    ],
)
def test_the_language_of_a_posting_is_detected_in_any_script(
    title: str, description: str, expected: str
) -> None:
    assert detect_language(title, description) == expected


def test_a_posting_written_half_in_albanian_and_half_in_english_is_mixed() -> None:
    description = (
        "Kërkojmë zhvillues softueri me përvojë në Tiranë. Do të punoni me ekipin tonë. "
        "We offer a modern office and a friendly international team that works in English "
        "every day."
    )
    assert detect_language("Zhvillues Softueri", description) == MIXED


def test_text_without_language_is_unknown() -> None:
    assert detect_language("abc", "1234 5678 ---") == UNKNOWN
    assert detect_language(None, "") == UNKNOWN

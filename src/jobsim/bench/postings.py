"""Generated job postings for the benchmark: a fixed seed gives the same postings every run.

Occupations span trades, care, logistics, office, hospitality and software; each posting is
written in one of five languages, with skills, requirements and a description whose length
varies the way real ads do (a short notice to a long ad with employer boilerplate).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from jobsim.postings.schema import EXPERIENCE_LEVELS


@dataclass(frozen=True)
class Occupation:
    category: str
    titles: dict[str, str]  # language -> title
    skills: tuple[str, ...]


OCCUPATIONS = (
    Occupation(
        "Software and IT",
        {
            "en": "Backend Developer",
            "de": "Backend-Entwickler",
            "fr": "Développeur backend",
            "es": "Desarrollador backend",
            "pl": "Programista backend",
        },
        ("Python", "PostgreSQL", "Docker", "Kubernetes", "REST APIs", "Go", "Kafka", "AWS"),
    ),
    Occupation(
        "Software and IT",
        {
            "en": "Data Engineer",
            "de": "Dateningenieur",
            "fr": "Ingénieur de données",
            "es": "Ingeniero de datos",
            "pl": "Inżynier danych",
        },
        ("Spark", "Airflow", "SQL", "dbt", "Python", "data modelling", "ETL", "BigQuery"),
    ),
    Occupation(
        "Health and care",
        {
            "en": "Registered Nurse",
            "de": "Pflegefachkraft",
            "fr": "Infirmier diplômé",
            "es": "Enfermero titulado",
            "pl": "Pielęgniarka dyplomowana",
        },
        (
            "patient care",
            "medication administration",
            "intensive care",
            "wound care",
            "night shifts",
            "electronic health records",
        ),
    ),
    Occupation(
        "Transport and logistics",
        {
            "en": "Truck Driver",
            "de": "LKW-Fahrer",
            "fr": "Chauffeur poids lourd",
            "es": "Conductor de camión",
            "pl": "Kierowca ciężarówki",
        },
        (
            "C+E licence",
            "tachograph",
            "international transport",
            "ADR",
            "route planning",
            "load securing",
        ),
    ),
    Occupation(
        "Transport and logistics",
        {
            "en": "Warehouse Operative",
            "de": "Lagermitarbeiter",
            "fr": "Préparateur de commandes",
            "es": "Operario de almacén",
            "pl": "Magazynier",
        },
        (
            "forklift licence",
            "order picking",
            "inventory",
            "WMS scanners",
            "shipping",
            "goods receipt",
        ),
    ),
    Occupation(
        "Construction and trades",
        {
            "en": "Electrician",
            "de": "Elektriker",
            "fr": "Électricien bâtiment",
            "es": "Electricista",
            "pl": "Elektryk",
        },
        (
            "electrical installations",
            "wiring diagrams",
            "safety regulations",
            "PLC",
            "fault finding",
            "switchboards",
        ),
    ),
    Occupation(
        "Construction and trades",
        {
            "en": "Carpenter",
            "de": "Tischler",
            "fr": "Menuisier",
            "es": "Carpintero",
            "pl": "Stolarz",
        },
        (
            "joinery",
            "technical drawings",
            "CNC machines",
            "wood finishing",
            "installation",
            "measuring",
        ),
    ),
    Occupation(
        "Finance and accounting",
        {
            "en": "Accountant",
            "de": "Buchhalter",
            "fr": "Comptable",
            "es": "Contable",
            "pl": "Księgowy",
        },
        ("IFRS", "Excel", "month-end closing", "VAT returns", "SAP", "reconciliations"),
    ),
    Occupation(
        "Hospitality",
        {
            "en": "Chef de Partie",
            "de": "Koch",
            "fr": "Chef de partie",
            "es": "Cocinero",
            "pl": "Kucharz",
        },
        (
            "HACCP",
            "menu planning",
            "kitchen hygiene",
            "a la carte",
            "stock control",
            "team leadership",
        ),
    ),
    Occupation(
        "Customer service",
        {
            "en": "Customer Support Agent",
            "de": "Kundenberater",
            "fr": "Conseiller clientèle",
            "es": "Agente de atención al cliente",
            "pl": "Konsultant obsługi klienta",
        },
        (
            "Zendesk",
            "phone support",
            "complaint handling",
            "CRM",
            "live chat",
            "English and Spanish",
        ),
    ),
    Occupation(
        "Sales and marketing",
        {
            "en": "Sales Representative",
            "de": "Außendienstmitarbeiter",
            "fr": "Commercial terrain",
            "es": "Representante de ventas",
            "pl": "Przedstawiciel handlowy",
        },
        ("B2B sales", "negotiation", "CRM", "key accounts", "driving licence B", "cold calling"),
    ),
    Occupation(
        "Education",
        {
            "en": "Primary School Teacher",
            "de": "Grundschullehrer",
            "fr": "Professeur des écoles",
            "es": "Maestro de primaria",
            "pl": "Nauczyciel edukacji wczesnoszkolnej",
        },
        (
            "lesson planning",
            "classroom management",
            "special needs",
            "parent meetings",
            "curriculum",
            "assessment",
        ),
    ),
)

LANGUAGES = ("en", "de", "fr", "es", "pl")
CITIES = (
    "Berlin",
    "Munich",
    "Paris",
    "Lyon",
    "Madrid",
    "Barcelona",
    "Warsaw",
    "Kraków",
    "London",
    "Manchester",
)
COMPANIES = tuple(
    f"{name} {kind}"
    for name in (
        "Nordlicht",
        "Bluefjord",
        "Solano",
        "Wisła",
        "Brightwater",
        "Atlas",
        "Vega",
        "Kestrel",
    )
    for kind in ("GmbH", "SA", "Ltd")
)

# Sentences an ad is made of, per language: duties, what the employer offers, boilerplate.
SENTENCES = {
    "en": (
        "You will work closely with a friendly team and take ownership of daily tasks.",
        "We offer a permanent contract, flexible hours and a yearly training budget.",
        "Experience with {skill} is essential; knowledge of {skill2} is a plus.",
        "Our company has been growing steadily for twenty years across Europe.",
        "You report to the team lead and help plan the work of the coming weeks.",
        "Applications from all backgrounds are welcome; we value diversity.",
    ),
    "de": (
        "Sie arbeiten eng mit einem freundlichen Team zusammen und übernehmen Verantwortung.",
        "Wir bieten einen unbefristeten Vertrag, flexible Arbeitszeiten und Weiterbildung.",
        "Erfahrung mit {skill} ist erforderlich; Kenntnisse in {skill2} sind von Vorteil.",
        "Unser Unternehmen wächst seit zwanzig Jahren in ganz Europa.",
        "Sie berichten an die Teamleitung und planen die Arbeit der kommenden Wochen mit.",
        "Wir freuen uns über Bewerbungen aller Menschen, unabhängig von ihrer Herkunft.",
    ),
    "fr": (
        "Vous travaillerez au sein d'une équipe conviviale et prendrez des responsabilités.",
        "Nous offrons un CDI, des horaires flexibles et un budget de formation annuel.",
        "Une expérience avec {skill} est indispensable ; {skill2} est un plus.",
        "Notre entreprise se développe depuis vingt ans dans toute l'Europe.",
        "Vous rendez compte au chef d'équipe et participez à la planification.",
        "Toutes les candidatures sont les bienvenues ; la diversité nous importe.",
    ),
    "es": (
        "Trabajarás con un equipo cercano y asumirás la responsabilidad de tus tareas.",
        "Ofrecemos contrato indefinido, horario flexible y presupuesto de formación.",
        "Es imprescindible experiencia con {skill}; se valorará {skill2}.",
        "Nuestra empresa lleva veinte años creciendo en toda Europa.",
        "Reportarás al responsable del equipo y ayudarás a planificar el trabajo.",
        "Valoramos la diversidad y animamos a todas las personas a postularse.",
    ),
    "pl": (
        "Będziesz pracować w przyjaznym zespole i odpowiadać za codzienne zadania.",
        "Oferujemy umowę o pracę, elastyczne godziny i budżet szkoleniowy.",
        "Wymagane doświadczenie z {skill}; znajomość {skill2} będzie atutem.",
        "Nasza firma rozwija się od dwudziestu lat w całej Europie.",
        "Raportujesz do kierownika zespołu i pomagasz planować pracę.",
        "Zapraszamy do aplikowania wszystkie osoby, cenimy różnorodność.",
    ),
}


def generate_postings(count: int, seed: int = 2026, prefix: str = "bench") -> list[dict[str, Any]]:
    """`count` posting records (the shape POST /api/jobs takes), the same for the same seed."""
    rng = random.Random(seed)
    return [_posting(rng, f"{prefix}-{i}") for i in range(count)]


def _posting(rng: random.Random, posting_id: str) -> dict[str, Any]:
    occupation = rng.choice(OCCUPATIONS)
    language = rng.choices(LANGUAGES, weights=(5, 2, 1, 1, 1))[0]
    skills = rng.sample(occupation.skills, k=min(len(occupation.skills), rng.randint(3, 5)))
    remote = occupation.category == "Software and IT" and rng.random() < 0.3
    return {
        "id": posting_id,
        "title": _title(rng, occupation.titles[language]),
        "description": _description(rng, language, skills),
        "company": rng.choice(COMPANIES),
        "category": occupation.category,
        "tags": skills,
        "requirements": [f"{rng.randint(1, 8)}+ years {skills[0]}"],
        "location": {"city": None if remote else rng.choice(CITIES), "remote": remote},
        "experience_level": rng.choice(EXPERIENCE_LEVELS),
        "status": "active",
        "language": language,
    }


def _title(rng: random.Random, title: str) -> str:
    suffix = rng.choice(("", "", "", " (m/w/d)", " - part time", " II", " - night shifts"))
    return title + suffix


def _description(rng: random.Random, language: str, skills: list[str]) -> str:
    """20 to 160 sentences (about 100 to 1,800 words), long-tailed like real ads."""
    sentences = SENTENCES[language]
    length = min(160, int(rng.lognormvariate(3.4, 0.6)) + 4)
    parts = [
        rng.choice(sentences).format(skill=rng.choice(skills), skill2=rng.choice(skills))
        for _ in range(length)
    ]
    return " ".join(parts)

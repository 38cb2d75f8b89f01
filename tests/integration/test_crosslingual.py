"""Postings for the same occupation, written in five languages, find each other.

Five occupations, each advertised in English, Polish, German, Spanish and Albanian (written for
this test, not translated by a machine), go through the shipped defaults: the API's store, the
worker with the default embedder, recipe and views, the lists it writes. Each posting's four
best neighbours should be the same occupation in the other four languages (precision@4 >= 0.8),
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter

from jobsim.embedders.registry import create_embedder
from jobsim.postings.schema import PostingIn
from jobsim.service import Service
from jobsim.settings import DEFAULT_EMBEDDER, Settings
from jobsim.storage.engine import Database
from jobsim.storage.models import SimilarEntry
from jobsim.worker import Worker

# (occupation, language, title, description)
POSTINGS = [
    (
        "nurse",
        "en",
        "Registered Nurse",
        "Our hospital ward is looking for a registered nurse to care for patients, give "
        "medication and assist doctors on their rounds. Night shifts possible.",
    ),
    (
        "nurse",
        "pl",
        "Pielęgniarka",
        "Szpital zatrudni pielęgniarkę do opieki nad pacjentami, podawania leków i pomocy "
        "lekarzom podczas obchodów. Możliwe dyżury nocne.",
    ),
    (
        "nurse",
        "de",
        "Pflegefachkraft (m/w/d)",
        "Unser Krankenhaus sucht eine Pflegefachkraft für die Betreuung der Patienten, die Gabe "
        "von Medikamenten und die Unterstützung der Ärzte bei der Visite. Nachtdienste möglich.",
    ),
    (
        "nurse",
        "es",
        "Enfermera / Enfermero",
        "Hospital busca enfermero para el cuidado de pacientes, la administración de "
        "medicamentos y el apoyo a los médicos durante las visitas. Posibles turnos de noche.",
    ),
    (
        "nurse",
        "sq",
        "Infermiere",
        "Spitali kërkon infermiere për kujdesin ndaj pacientëve, dhënien e ilaçeve dhe ndihmën "
        "e mjekëve gjatë vizitave. Mundësi turnesh nate.",
    ),
    (
        "truck driver",
        "en",
        "Truck Driver (C+E)",
        "Transport company hires a truck driver for international routes across Europe. "
        "A category C+E licence and a driver card are required.",
    ),
    (
        "truck driver",
        "pl",
        "Kierowca ciężarówki kat. C+E",
        "Firma transportowa zatrudni kierowcę ciężarówki na trasy międzynarodowe po Europie. "
        "Wymagane prawo jazdy kat. C+E i karta kierowcy.",
    ),
    (
        "truck driver",
        "de",
        "LKW-Fahrer (m/w/d) im Fernverkehr",
        "Spedition sucht LKW-Fahrer für internationale Touren durch Europa. Führerschein "
        "Klasse CE und Fahrerkarte erforderlich.",
    ),
    (
        "truck driver",
        "es",
        "Conductor de camión",
        "Empresa de transporte contrata conductor de camión para rutas internacionales por "
        "Europa. Se requiere carné C+E y tarjeta de tacógrafo.",
    ),
    (
        "truck driver",
        "sq",
        "Shofer kamioni",
        "Kompani transporti punëson shofer kamioni për linja ndërkombëtare në Evropë. Kërkohet "
        "patentë e kategorisë C+E dhe kartë shoferi.",
    ),
    (
        "software developer",
        "en",
        "Software Developer (Python)",
        "We are looking for a software developer to build web applications and APIs in Python, "
        "write tests and review code with the team.",
    ),
    (
        "software developer",
        "pl",
        "Programista Python",
        "Szukamy programisty do tworzenia aplikacji internetowych i API w Pythonie, pisania "
        "testów i przeglądów kodu w zespole.",
    ),
    (
        "software developer",
        "de",
        "Softwareentwickler (m/w/d) Python",
        "Wir suchen einen Softwareentwickler, der Webanwendungen und APIs in Python entwickelt, "
        "Tests schreibt und Code im Team prüft.",
    ),
    (
        "software developer",
        "es",
        "Desarrollador de software Python",
        "Buscamos un desarrollador de software para crear aplicaciones web y APIs en Python, "
        "escribir pruebas y revisar código con el equipo.",
    ),
    (
        "software developer",
        "sq",
        "Zhvillues softueri (Python)",
        "Kërkojmë zhvillues softueri për të ndërtuar aplikacione web dhe API në Python, për të "
        "shkruar teste dhe për të rishikuar kodin me ekipin.",
    ),
    (
        "accountant",
        "en",
        "Accountant",
        "Accounting office hires an accountant to keep the books, prepare VAT returns and "
        "monthly financial statements for client companies.",
    ),
    (
        "accountant",
        "pl",
        "Księgowa / Księgowy",
        "Biuro rachunkowe zatrudni księgową do prowadzenia ksiąg, przygotowywania deklaracji VAT "
        "i miesięcznych sprawozdań finansowych dla klientów.",
    ),
    (
        "accountant",
        "de",
        "Buchhalter (m/w/d)",
        "Steuerbüro sucht Buchhalter für die Finanzbuchhaltung, Umsatzsteuervoranmeldungen und "
        "die monatlichen Abschlüsse unserer Mandanten.",
    ),
    (
        "accountant",
        "es",
        "Contable",
        "Asesoría contrata contable para llevar la contabilidad, preparar las declaraciones de "
        "IVA y los estados financieros mensuales de los clientes.",
    ),
    (
        "accountant",
        "sq",
        "Kontabilist",
        "Zyra e kontabilitetit punëson kontabilist për mbajtjen e librave, përgatitjen e "
        "deklaratave të TVSH-së dhe të pasqyrave financiare mujore të klientëve.",
    ),
    (
        "cook",
        "en",
        "Cook",
        "Restaurant kitchen needs a cook to prepare hot dishes, soups and sauces, keep the "
        "kitchen clean and follow food safety rules.",
    ),
    (
        "cook",
        "pl",
        "Kucharz",
        "Restauracja zatrudni kucharza do przygotowywania dań gorących, zup i sosów, dbania o "
        "czystość kuchni i przestrzegania zasad higieny.",
    ),
    (
        "cook",
        "de",
        "Koch / Köchin (m/w/d)",
        "Restaurant sucht Koch für die Zubereitung warmer Speisen, Suppen und Soßen, Sauberkeit "
        "in der Küche und die Einhaltung der Hygieneregeln.",
    ),
    (
        "cook",
        "es",
        "Cocinero / Cocinera",
        "Restaurante busca cocinero para preparar platos calientes, sopas y salsas, mantener la "
        "cocina limpia y cumplir las normas de higiene.",
    ),
    (
        "cook",
        "sq",
        "Kuzhinier",
        "Restoranti kërkon kuzhinier për përgatitjen e pjatave të ngrohta, supave dhe salcave, "
        "pastërtinë e kuzhinës dhe respektimin e rregullave të higjienës.",
    ),
]


def test_the_same_occupation_in_five_languages_clusters_in_the_workers_lists(
    database_url: str, db: Database
) -> None:
    # The shipped recipe (embedder, views, text, minimum score); only the database is the test's.
    settings = Settings(database_url=database_url, poll_seconds=0.05)
    assert settings.embedder == DEFAULT_EMBEDDER
    service = Service(settings, db)
    occupation = {}
    for number, (job, language, title, description) in enumerate(POSTINGS):
        posting_id = f"{language}-{number}"
        occupation[posting_id] = job
        service.postings.create(
            PostingIn.model_validate({"id": posting_id, "title": title, "description": description})
        )
    embedder = create_embedder(settings.embedder, settings)
    try:
        Worker(settings, db, embedder).run(burst=True)
    finally:
        embedder.close()

    lists: dict[str, list[str]] = {}
    with db.read() as session:
        rows = session.query(SimilarEntry).order_by(
            SimilarEntry.posting_id, SimilarEntry.score.desc(), SimilarEntry.similar_id
        )
        for row in rows:
            lists.setdefault(row.posting_id, []).append(row.similar_id)
    hits = Counter[str]()
    for posting_id, job in occupation.items():
        best = lists.get(posting_id, [])[:4]
        hits[job] += sum(occupation[other] == job for other in best)
    precision = sum(hits.values()) / (4 * len(occupation))
    per_job = {job: hits[job] / 20 for job in sorted(hits)}
    print(f"cross-lingual precision@4: {precision:.3f} {per_job}")
    assert precision >= 0.8, per_job

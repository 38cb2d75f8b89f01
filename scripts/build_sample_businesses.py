"""Build src/jobsim/data/sample_businesses.jsonl, the demo business directory ("Yellow Book",
seed 003) that the quick start and the tests load.

Every entry is written for this project from the phrase lists below: invented names, streets,
phone numbers and websites (example.com addresses), ten kinds of business in six cities of three
regions, so that each business has others of its kind nearby and far away. Deterministic: a
fixed seed gives the same file.

Usage: python scripts/build_sample_businesses.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "jobsim" / "data" / "sample_businesses.jsonl"
SEED = 20261130

CITIES = {
    "Northfield": "Lakeshire",
    "Millbrook": "Lakeshire",
    "Harborview": "Coastal County",
    "Saltmarsh": "Coastal County",
    "Ironridge": "Highlands",
    "Pinecrest": "Highlands",
}
STREETS = [
    "Main Street",
    "Station Road",
    "Market Square",
    "Church Lane",
    "Mill Road",
    "High Street",
    "Harbour Walk",
    "Oak Avenue",
    "River Street",
    "Park Lane",
]

# kind: (category, name patterns, sentences, tags)
KINDS: dict[str, tuple[str, list[str], list[str], list[str]]] = {
    "bakery": (
        "Bakery",
        [
            "{surname}'s Bakery",
            "The {adjective} Loaf",
            "{city} Bread House",
            "Crust & Crumb",
            "Golden Oven",
            "Morning Rise Bakery",
        ],
        [
            "Sourdough and rye bread baked before dawn every day.",
            "Croissants, cinnamon buns and seasonal fruit tarts.",
            "Custom birthday and wedding cakes to order.",
            "Gluten-free loaves baked on Thursdays.",
            "A family bakery using stone-ground flour from local mills.",
            "Fresh pretzels and bagels, coffee to take away.",
        ],
        ["bread", "cakes", "pastries", "sourdough", "gluten-free"],
    ),
    "cafe": (
        "Cafe",
        [
            "Bean There",
            "{city} Coffee Roasters",
            "The {adjective} Cup",
            "Corner Espresso",
            "{surname}'s Coffee House",
            "Steam & Leaf",
        ],
        [
            "Specialty coffee roasted in house, espresso and filter.",
            "Breakfast served until noon, homemade soups at lunch.",
            "A quiet place to work with free wifi and power outlets.",
            "Loose-leaf teas, hot chocolate and oat milk lattes.",
            "Cakes from a neighbourhood bakery and vegan sandwiches.",
            "Live acoustic music on Friday evenings.",
        ],
        ["coffee", "espresso", "breakfast", "tea", "wifi"],
    ),
    "dentist": (
        "Dentist",
        [
            "{city} Dental Care",
            "Bright Smile Dental",
            "Dr. {surname} Dentistry",
            "{adjective} Teeth Clinic",
            "Family Dental Practice",
            "Gentle Dental Studio",
        ],
        [
            "Check-ups, cleaning and fillings for the whole family.",
            "Emergency appointments for toothache on the same day.",
            "Teeth whitening, crowns and dental implants.",
            "Orthodontics with clear aligners for teens and adults.",
            "Children's dentistry in a calm and friendly setting.",
            "Dental hygienist visits and gum treatment.",
        ],
        ["dentist", "teeth cleaning", "implants", "orthodontics", "emergency dentist"],
    ),
    "car_repair": (
        "Car Repair",
        [
            "{surname} Auto Repair",
            "{city} Garage",
            "Quick Fix Motors",
            "The {adjective} Mechanic",
            "Torque & Tyre",
            "Ridge Road Autos",
        ],
        [
            "Servicing, MOT preparation and brake repairs for all makes.",
            "Tyre fitting, wheel alignment and puncture repair.",
            "Engine diagnostics and electrical faults found fast.",
            "Air conditioning recharge and exhaust repairs.",
            "Clutch and gearbox replacement with a twelve-month warranty.",
            "Hybrid and electric vehicle servicing by certified mechanics.",
        ],
        ["car service", "tyres", "brakes", "diagnostics", "mechanic"],
    ),
    "plumber": (
        "Plumbing",
        [
            "{surname} Plumbing",
            "{city} Plumbing & Heating",
            "Flow Right Plumbers",
            "The {adjective} Pipe",
            "Drain Masters",
            "Boiler Care Services",
        ],
        [
            "Leaking taps, burst pipes and blocked drains fixed, day or night.",
            "Boiler installation, servicing and repair by registered engineers.",
            "Bathroom fitting, showers and underfloor heating.",
            "Radiator replacement and central heating power flushing.",
            "Water heater and tank installation with free quotes.",
            "Emergency call-outs within the hour.",
        ],
        ["plumber", "boiler", "heating", "drains", "emergency plumber"],
    ),
    "hair_salon": (
        "Hair Salon",
        [
            "{surname} Hair Studio",
            "Shear Delight",
            "{city} Cuts",
            "The {adjective} Fringe",
            "Mane Street Salon",
            "Curl Up & Dye",
        ],
        [
            "Cuts, colour and blow-dries for women and men.",
            "Balayage, highlights and colour correction by senior stylists.",
            "Barbering, beard trims and hot towel shaves.",
            "Bridal hair and make-up for weddings and events.",
            "Keratin smoothing and curly hair specialists.",
            "Walk-ins welcome on weekday mornings.",
        ],
        ["haircut", "hair colour", "barber", "styling", "salon"],
    ),
    "veterinarian": (
        "Veterinary Clinic",
        [
            "{city} Vets",
            "Paws & Claws Veterinary",
            "Dr. {surname} Animal Clinic",
            "The {adjective} Paw",
            "Four Legs Vet Practice",
            "Riverside Animal Hospital",
        ],
        [
            "Vaccinations, microchipping and health checks for cats and dogs.",
            "Surgery, dental care and x-ray on site.",
            "Care for rabbits, guinea pigs, birds and reptiles.",
            "Twenty-four hour emergency care for pets.",
            "Puppy and kitten plans with monthly payments.",
            "Farm animal and equine visits in the surrounding villages.",
        ],
        ["vet", "pets", "vaccinations", "animal surgery", "emergency vet"],
    ),
    "bookshop": (
        "Bookshop",
        [
            "{surname} & Daughters Books",
            "The {adjective} Page",
            "{city} Bookshop",
            "Chapter One",
            "Dog-Eared Books",
            "Paper Lantern Books",
        ],
        [
            "New and second-hand books, fiction and non-fiction.",
            "A children's corner with story time on Saturday mornings.",
            "Rare and antiquarian books bought and sold.",
            "Book clubs, author readings and signed editions.",
            "Maps, local history and travel guides.",
            "Orders for any book in print, usually within two days.",
        ],
        ["books", "second-hand books", "children's books", "book club", "stationery"],
    ),
    "gym": (
        "Fitness Centre",
        [
            "{city} Fitness",
            "Iron Temple Gym",
            "The {adjective} Body Studio",
            "Peak Performance Gym",
            "{surname}'s Boxing Club",
            "Flex & Flow Fitness",
        ],
        [
            "Free weights, machines and cardio open from six in the morning.",
            "Personal training and nutrition plans.",
            "Yoga, pilates and spin classes every day.",
            "Boxing and kickboxing classes for beginners.",
            "Student and off-peak memberships without a contract.",
            "Sauna and a small pool for members.",
        ],
        ["gym", "personal trainer", "yoga", "fitness classes", "weights"],
    ),
    "accountant": (
        "Accountant",
        [
            "{surname} & Partners Accountants",
            "{city} Tax Advisors",
            "Clear Ledger Accounting",
            "The {adjective} Balance",
            "Numbers First Bookkeeping",
            "True North Accounts",
        ],
        [
            "Tax returns for sole traders, landlords and employees.",
            "Bookkeeping, payroll and VAT for small businesses.",
            "Year-end accounts and company formation.",
            "Advice on pensions, inheritance and tax planning.",
            "Cloud accounting set-up and training.",
            "Fixed monthly fees and a free first consultation.",
        ],
        ["accountant", "tax returns", "bookkeeping", "payroll", "small business"],
    ),
}
SURNAMES = [
    "Abbott",
    "Baker",
    "Carter",
    "Dawson",
    "Ellis",
    "Fletcher",
    "Garcia",
    "Hughes",
    "Iqbal",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Morgan",
    "Novak",
    "Okafor",
    "Patel",
]
ADJECTIVES = ["Golden", "Little", "Happy", "Old", "Blue", "Honest", "Green", "Friendly"]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def build(rng: random.Random) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for kind, (category, names, sentences, tags) in KINDS.items():
        patterns = names[:]
        rng.shuffle(patterns)
        for number, (city, region) in enumerate(CITIES.items()):
            name = patterns[number].format(
                surname=rng.choice(SURNAMES), adjective=rng.choice(ADJECTIVES), city=city
            )
            entries.append(
                {
                    "id": f"biz-{kind.replace('_', '-')}-{slug(city)}",
                    "name": name,
                    "category": category,
                    "description": " ".join(rng.sample(sentences, 3)),
                    "address": {
                        "street": f"{rng.randint(1, 180)} {rng.choice(STREETS)}",
                        "city": city,
                        "region": region,
                    },
                    "phone": f"+44 1{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                    "website": f"https://{slug(name)}.example.com",
                    "tags": rng.sample(tags, 3),
                }
            )
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    entries = build(random.Random(SEED))
    with args.out.open("w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"wrote {len(entries)} businesses to {args.out}")


if __name__ == "__main__":
    main()

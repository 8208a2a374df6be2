"""Word pools for synthetic people and places (all invented; no real patient data)."""

from __future__ import annotations

FIRST_NAMES = (
    "Olivia", "Liam", "Charlotte", "Noah", "Amelia", "Oliver", "Isla", "Jack", "Mia", "William", "Ava", "Henry",
    "Grace", "Leo", "Chloe", "Lucas", "Sophie", "Thomas", "Ruby", "James", "Zara", "Hugo", "Ella", "Mason",
    "Harper", "Archie", "Willow", "Ethan", "Matilda", "Oscar", "Aroha", "Tane", "Mere", "Wiremu", "Priya", "Arjun",
    "Mei", "Wei", "Hana", "Kenji", "Fatima", "Omar", "Lucía", "Mateo", "Sofia", "Diego", "Aisha", "Yusuf",
    "Emily", "Daniel", "Hannah", "Samuel", "Chen", "Minh", "Linh", "Anika", "Ravi", "Nikolai", "Ingrid", "Freya",
)
LAST_NAMES = (
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin", "Anderson", "Thompson",
    "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan", "Robinson", "Kelly", "King", "Davis", "Wright", "Evans",
    "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel", "Singh", "Chen", "Wang", "Kim", "Tran",
    "Ngata", "Parata", "Tipene", "García", "Rodríguez", "Müller", "Schmidt", "Rossi", "Kowalski", "Novak",
    "Hernández", "Cohen", "Haddad", "Yamamoto", "Sato", "Murphy", "Byrne", "MacDonald", "Campbell", "Stewart",
)
TITLES = ("Mr", "Mrs", "Ms", "Miss", "Dr", "Mx", None)
OCCUPATIONS = ("Teacher", "Nurse", "Electrician", "Software developer", "Retired", "Student", "Accountant",
               "Chef", "Builder", "Barista", "Lawyer", "Cleaner", "Farmer", None)
REFERRAL_SOURCES = ("Google", "Friend or family", "GP referral", "Instagram", "Walked past", "", None)
GENDERS = ("Woman", "Man", "Non-binary", "Prefer not to say", None)
SEXES = ("Female", "Male", "Intersex", None)

PRONOUNS = (
    None,
    {"accusative": "her", "nominative": "she", "predicative_possessive": "hers",
     "pronominal_possessive": "her", "reflexive": "herself"},
    {"accusative": "him", "nominative": "he", "predicative_possessive": "his",
     "pronominal_possessive": "his", "reflexive": "himself"},
    {"accusative": "them", "nominative": "they", "predicative_possessive": "theirs",
     "pronominal_possessive": "their", "reflexive": "themselves"},
)

# Per country: streets, (city, state, post code) triples, phone formatting.
PLACES = {
    "AU": {
        "country": "Australia",
        "streets": ("George St", "Pitt St", "Oxford St", "King St", "Military Rd", "Parramatta Rd", "Crown St"),
        "cities": (("Sydney", "NSW", "2000"), ("Surry Hills", "NSW", "2010"), ("Parramatta", "NSW", "2150"),
                   ("Bondi", "NSW", "2026"), ("Newtown", "NSW", "2042")),
        "time_zone": "Australia/Sydney",
    },
    "NZ": {
        "country": "New Zealand",
        "streets": ("Ponsonby Rd", "Queen St", "Karangahape Rd", "Dominion Rd", "Great North Rd"),
        "cities": (("Auckland", "Auckland", "1011"), ("Grey Lynn", "Auckland", "1021"),
                   ("Mt Eden", "Auckland", "1024")),
        "time_zone": "Pacific/Auckland",
    },
    "US": {
        "country": "United States",
        "streets": ("Atlantic Ave", "Flatbush Ave", "Court St", "Bedford Ave", "5th Ave"),
        "cities": (("Brooklyn", "NY", "11201"), ("New York", "NY", "10001"), ("Queens", "NY", "11101")),
        "time_zone": "America/New_York",
    },
}


def phone(country: str, kind: str, n: int) -> dict[str, str]:
    """A PhoneNumber object in the local written form plus its E.164 normalisation."""
    digits = f"{(n * 7919) % 100000000:08d}"
    if country == "AU":
        local = f"04{digits[:2]} {digits[2:5]} {digits[5:]}" if kind == "Mobile" else f"02 {digits[:4]} {digits[4:]}"
        normalized = "+61" + local.replace(" ", "")[1:]
    elif country == "NZ":
        local = f"021 {digits[:3]} {digits[3:7]}" if kind == "Mobile" else f"09 {digits[:3]} {digits[3:7]}"
        normalized = "+64" + local.replace(" ", "")[1:]
    else:
        local = f"(718) {digits[:3]}-{digits[3:7]}"
        normalized = "+1718" + digits[:7]
    return {"number": local, "normalized_number": normalized, "phone_type": kind}

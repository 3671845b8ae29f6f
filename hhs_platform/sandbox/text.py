"""Plausible health-agency post text with hashtags, mentions, links and byte-offset facets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A subject an agency posts about: sentences, hashtags, a page path and video titles."""

    name: str
    sentences: tuple[str, ...]
    tags: tuple[str, ...]
    path: str
    titles: tuple[str, ...]


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(
            "flu",
            (
                "Flu season is here. Getting your annual flu vaccine is the best way to protect "
                "yourself and your family.",
                "It’s not too late to get a flu shot — vaccination can reduce illness, doctor’s "
                "visits and missed work.",
                "Everyone 6 months and older should get a flu vaccine every season.",
            ),
            ("FluSeason", "FightFlu", "GetVaccinated"),
            "/flu/prevention/index.html",
            ("Why You Need a Flu Vaccine Every Year", "Flu Season Basics in {n} Minutes"),
        ),
        Topic(
            "vaccines",
            (
                "Vaccines are one of the safest ways to protect your health. Talk to your doctor "
                "about the vaccines recommended for you 💉",
                "Measles cases are rising. Two doses of MMR vaccine are about 97% effective.",
                "RSV can be serious for older adults and infants. Protection is available "
                "this fall.",
            ),
            ("VaccinesWork", "Measles", "RSV"),
            "/vaccines/index.html",
            ("How Vaccines Are Tested for Safety", "RSV Protection for Older Adults"),
        ),
        Topic(
            "mental_health",
            (
                "If you or someone you know is struggling, call or text 988 to reach the Suicide & "
                "Crisis Lifeline. You are not alone 💚",
                "Mental health is health. Small daily habits can help you cope with stress.",
                "New data show how common anxiety and depression are among young adults.",
            ),
            ("988Lifeline", "MentalHealthMatters", "MentalHealth"),
            "/mental-health/index.html",
            ("Talking About Mental Health With Teens", "What Happens When You Call 988"),
        ),
        Topic(
            "overdose",
            (
                "Naloxone can reverse an opioid overdose. Learn how to recognize the signs and "
                "carry it with you.",
                "Fentanyl is driving overdose deaths. Test strips and naloxone save lives.",
                "Recovery is possible. Treatment and support services are available in every "
                "state.",
            ),
            ("Naloxone", "StopOverdose", "Recovery"),
            "/overdose-prevention/index.html",
            ("How to Use Naloxone", "Understanding Fentanyl Risks"),
        ),
        Topic(
            "cancer",
            (
                "Regular screening can find cancer early, when treatment works best.",
                "November is Lung Cancer Awareness Month. Talk to your provider about screening "
                "if you have a history of smoking 🫁",
                "New research funding will support clinical trials in rural communities.",
            ),
            ("CancerScreening", "LungCancerAwareness", "CancerResearch"),
            "/cancer/screening/index.html",
            ("Lung Cancer Screening: Who Should Get It", "Inside a Cancer Clinical Trial"),
        ),
        Topic(
            "diabetes",
            (
                "November is National Diabetes Month. About 1 in 3 adults has prediabetes and "
                "most don’t know it.",
                "Healthy eating and 150 minutes of activity a week can lower your risk of type 2 "
                "diabetes.",
            ),
            ("DiabetesMonth", "Prediabetes", "HealthyLiving"),
            "/diabetes/prevention/index.html",
            ("Preventing Type 2 Diabetes", "Living Well With Diabetes"),
        ),
        Topic(
            "medicare",
            (
                "Medicare Open Enrollment runs Oct 15 – Dec 7. Review your coverage and compare "
                "plans now.",
                "Need health coverage? Open Enrollment on HealthCare.gov starts Nov 1.",
                "Medicaid and CHIP cover millions of children. Check if your family qualifies.",
            ),
            ("MedicareOpenEnrollment", "OpenEnrollment", "Medicaid"),
            "/medicare/enrollment",
            ("Comparing Medicare Plans During Open Enrollment", "What Is Covered by Medicaid"),
        ),
        Topic(
            "food_safety",
            (
                "Recall alert: check your pantry and follow the instructions in the notice.",
                "Planning a holiday meal? Use a food thermometer — turkey is safe at 165°F 🦃",
                "Wash hands, separate, cook and chill: four steps to prevent food poisoning.",
            ),
            ("FoodSafety", "Recall", "Thanksgiving"),
            "/food/recalls-outbreaks-emergencies",
            ("Safe Turkey Preparation", "How Food Recalls Work"),
        ),
        Topic(
            "drugs",
            (
                "Today we approved a new treatment option for patients with a rare disease.",
                "Buying medicine online? Make sure the pharmacy is licensed and requires a "
                "prescription.",
                "Report side effects from medicines and medical devices to MedWatch.",
            ),
            ("DrugSafety", "FDAApproval", "MedWatch"),
            "/drugs/drug-safety-and-availability",
            ("How a New Drug Gets Approved", "Safe Use of Over-the-Counter Medicines"),
        ),
        Topic(
            "research",
            (
                "Scientists have identified a new approach that could speed up vaccine design 🔬",
                "A large study links regular physical activity with a lower risk of dementia.",
                "Join a clinical trial and help researchers find better ways to treat disease.",
            ),
            ("Science", "Research", "ClinicalTrials"),
            "/news-events/news-releases",
            ("Research Highlights: This Month in Science", "What It Is Like to Join a Study"),
        ),
        Topic(
            "aging",
            (
                "Staying socially connected can help older adults stay healthy and independent.",
                "Falls are the leading cause of injury for adults 65 and older. Simple changes "
                "at home help.",
                "Caregivers need care too. Find respite and support resources near you.",
            ),
            ("HealthyAging", "Caregivers", "FallPrevention"),
            "/health/healthy-aging",
            ("Tips for Healthy Aging", "Supporting Family Caregivers"),
        ),
        Topic(
            "health_centers",
            (
                "Community health centers serve more than 30 million people, regardless of "
                "ability to pay.",
                "Rural hospitals are getting new support to keep care close to home.",
                "Find a health center near you for primary, dental and behavioral health care.",
            ),
            ("HealthCenters", "RuralHealth", "PrimaryCare"),
            "/about/news",
            ("A Day at a Community Health Center", "Rural Health Care Workforce"),
        ),
        Topic(
            "preparedness",
            (
                "Winter storms can knock out power. Build an emergency kit with water, "
                "medicines and a flashlight ❄️",
                "Carbon monoxide poisoning is preventable. Never run a generator indoors.",
                "Protect your health during wildfire smoke: stay inside and use a HEPA filter.",
            ),
            ("BeReady", "WinterWeather", "Preparedness"),
            "/emergency-preparedness/index.html",
            ("Preparing Your Family for Emergencies", "Staying Safe After a Storm"),
        ),
        Topic(
            "tribal_health",
            (
                "Honoring Native American Heritage Month by celebrating the strength of Tribal "
                "communities.",
                "New funding will expand behavioral health services in Tribal communities.",
            ),
            ("NativeAmericanHeritageMonth", "TribalHealth", "IHS"),
            "/newsroom",
            ("Native American Heritage Month Message", "Tribal Health Programs Explained"),
        ),
        Topic(
            "patient_safety",
            (
                "Ask questions at every visit. Being an active member of your care team improves "
                "safety.",
                "New evidence review: what works to prevent health care–associated infections.",
            ),
            ("PatientSafety", "EvidenceBased", "QualityCare"),
            "/patient-safety/index.html",
            ("Questions to Ask Your Doctor", "Preventing Infections in Hospitals"),
        ),
    )
}

_AGENCY_TOPICS: dict[str, tuple[str, ...]] = {
    "HHS": ("medicare", "vaccines", "mental_health", "overdose", "preparedness"),
    "CDC": ("flu", "vaccines", "diabetes", "preparedness", "food_safety", "overdose"),
    "FDA": ("food_safety", "drugs", "vaccines"),
    "NIH": ("research", "cancer", "aging", "mental_health"),
    "NCI": ("cancer", "research"),
    "NIMH": ("mental_health", "research"),
    "NIAID": ("vaccines", "research", "flu"),
    "NIA": ("aging", "research"),
    "NIDA": ("overdose", "research"),
    "CMS": ("medicare", "health_centers"),
    "SAMHSA": ("mental_health", "overdose"),
    "HRSA": ("health_centers", "overdose"),
    "ACL": ("aging", "preparedness"),
    "AHRQ": ("patient_safety", "research"),
    "IHS": ("tribal_health", "diabetes", "mental_health"),
    "ACF": ("health_centers", "mental_health"),
}

_DOMAINS = {
    "HHS": "hhs.gov",
    "CDC": "cdc.gov",
    "FDA": "fda.gov",
    "NIH": "nih.gov",
    "CMS": "cms.gov",
    "SAMHSA": "samhsa.gov",
    "HRSA": "hrsa.gov",
    "ACF": "acf.hhs.gov",
    "ACL": "acl.gov",
    "AHRQ": "ahrq.gov",
    "IHS": "ihs.gov",
}

_OPENERS = ("", "", "", "📢 ", "New: ", "Reminder: ", "Did you know? ")
_REPLY_OPENERS = ("More information: ", "Thread 🧵 ", "Also: ", "Good question! ", "Update: ")
_QUOTE_OPENERS = ("Important update from ", "Worth a read from ", "Sharing this from ")


def agency_key(agency: str) -> str:
    """The topic/domain key of an agency code: ``NIH-NCI`` → ``NCI``, ``CDC-ES`` → ``CDC``."""
    parts = agency.upper().split("-")
    if len(parts) > 1 and parts[-1] in _AGENCY_TOPICS:
        return parts[-1]
    return parts[0]


def agency_topics(agency: str) -> tuple[str, ...]:
    """The topics an agency posts about (a generic mix for an unknown agency)."""
    return _AGENCY_TOPICS.get(agency_key(agency), ("research", "vaccines", "preparedness"))


def agency_domain(agency: str, handle: str | None = None) -> str:
    """The agency's web domain (its Bluesky handle when that is a domain)."""
    if handle and "." in handle:
        return handle.lower()
    key = agency_key(agency)
    if key in _DOMAINS:
        return _DOMAINS[key]
    sub = agency.upper().split("-")[-1].lower()
    return f"{sub}.nih.gov" if agency.upper().startswith("NIH") else f"{sub}.hhs.gov"


@dataclass(frozen=True)
class Facet:
    """A rich-text facet: ``kind`` is tag, mention or link; offsets are UTF-8 byte offsets."""

    kind: str
    byte_start: int
    byte_end: int
    value: str


@dataclass(frozen=True)
class PostText:
    """A composed short post."""

    text: str
    facets: tuple[Facet, ...]
    topic: str
    link: str | None


@dataclass(frozen=True)
class VideoText:
    """A composed video title, description and tags."""

    title: str
    description: str
    tags: tuple[str, ...]
    topic: str


class _Builder:
    """Appends text while keeping the UTF-8 byte offsets that facets need."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.nbytes = 0
        self.facets: list[Facet] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.nbytes += len(text.encode())

    def add_facet(self, shown: str, kind: str, value: str) -> None:
        start = self.nbytes
        self.add(shown)
        self.facets.append(Facet(kind, start, self.nbytes, value))

    def text(self) -> str:
        return "".join(self.parts)


def _short_link(uri: str) -> str:
    # Bluesky clients show links without the scheme and cut long ones; the facet keeps the full uri.
    shown = uri.split("://", 1)[-1]
    return shown if len(shown) <= 30 else shown[:27] + "..."


def compose_post(
    rng: random.Random,
    agency: str,
    domain: str,
    kind: str = "original",
    mentions: Sequence[tuple[str, str]] = (),
) -> PostText:
    """Compose a Bluesky-sized post (under 300 characters).

    Args:
        rng: the post's own random stream.
        agency: the registry agency code (chooses topics).
        domain: the agency's web domain, for links.
        kind: original, reply or quote (changes the opening).
        mentions: (handle, did) pairs that may be mentioned.
    """
    topic = TOPICS[rng.choice(agency_topics(agency))]
    b = _Builder()
    if kind == "reply":
        b.add(rng.choice(_REPLY_OPENERS))
    elif kind == "quote" and mentions and rng.random() < 0.7:
        handle, did = rng.choice(list(mentions))
        b.add(rng.choice(_QUOTE_OPENERS))
        b.add_facet("@" + handle, "mention", did)
        b.add(": ")
    else:
        b.add(rng.choice(_OPENERS))
    b.add(rng.choice(topic.sentences))
    if kind != "quote" and mentions and rng.random() < 0.15:
        handle, did = rng.choice(list(mentions))
        b.add(" With ")
        b.add_facet("@" + handle, "mention", did)
        b.add(".")
    link: str | None = None
    if rng.random() < 0.55:
        link = f"https://www.{domain}{topic.path}"
        if rng.random() < 0.4:
            link += f"?utm_source=bluesky&utm_campaign={topic.name}"
        b.add(" Learn more: " if rng.random() < 0.5 else "\n\n")
        b.add_facet(_short_link(link), "link", link)
    n_tags = rng.choice((0, 1, 1, 2, 2, 3))
    if n_tags:
        b.add("\n" if rng.random() < 0.5 else " ")
        for i, tag in enumerate(rng.sample(topic.tags, min(n_tags, len(topic.tags)))):
            if i:
                b.add(" ")
            b.add_facet("#" + tag, "tag", tag)
    return PostText(b.text(), tuple(b.facets), topic.name, link)


def compose_video(
    rng: random.Random, agency: str, domain: str, channel_title: str, channel_handle: str
) -> VideoText:
    """Compose a YouTube title, description (with links and hashtags) and tags."""
    topic = TOPICS[rng.choice(agency_topics(agency))]
    title = rng.choice(topic.titles).format(n=rng.randint(2, 9))
    if rng.random() < 0.3:
        title = f"{title} | {channel_title}"[:100]
    link = f"https://www.{domain}{topic.path}"
    tags = rng.sample(topic.tags, 2)
    first, second = rng.sample(topic.sentences, 2)
    lines = [
        first,
        "",
        second,
        "",
        f"Learn more → {link}",
        f"Subscribe to {channel_title} → https://www.youtube.com/@{channel_handle}",
        "",
        " ".join("#" + t for t in tags),
    ]
    keywords = (*topic.tags, agency_key(agency), channel_title, topic.name.replace("_", " "))
    return VideoText(title, "\n".join(lines), keywords, topic.name)

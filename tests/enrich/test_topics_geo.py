"""Health topics and geography on a real lake, and extending the taxonomy with HHS_TOPICS_FILE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from enrich_rows import by_post, post, write_posts

from hhs_platform.enrich import enrich_posts, load_taxonomy
from hhs_platform.enrich.geo import _LOOSE_NAMES_RE, NAMES_RE
from hhs_platform.enrich.topics import TWO_PASSES_FROM
from hhs_platform.errors import ConfigurationError
from hhs_platform.lake.store import Lake
from hhs_platform.settings import get_settings

#: post id -> (text, topics, states, places)
CASES: dict[str, tuple[str, list[str], list[str], list[str]]] = {
    "flu": (
        "Flu season is here: get your flu shot! #FightFlu",
        ["flu", "vaccines"],
        [],
        [],
    ),
    "influence": ("Your choices influence your family.", [], [], []),  # no "flu" inside a word
    "hashtag": ("#MentalHealthMatters #988Lifeline", ["mental_health"], [], []),
    "lowercase_tag": ("#mentalhealth #covid19", ["covid19", "mental_health"], [], []),
    "aids": ("Hearing aids help older adults stay connected.", ["aging"], [], []),
    "hiv": ("Know your HIV status. PrEP and treatment prevent AIDS.", ["hiv"], [], []),
    "smoke": ("Protect yourself from wildfire smoke.", ["emergency_preparedness"], [], []),
    "vaping": ("Vaping is not safe for kids. Nicotine harms the brain.", ["tobacco"], [], []),
    "recall": (
        "Recall: Salmonella in peanut butter sold in Ohio and Kentucky.",
        ["food_safety", "recalls"],
        ["KY", "OH"],
        [],
    ),
    "maternal": (
        "Pregnant? Postpartum care matters in West Virginia and Virginia.",
        ["maternal_health"],
        ["VA", "WV"],
        [],
    ),
    "west_virginia": ("Overdose deaths fell in West Virginia.", ["opioids"], ["WV"], []),
    "kansas_city": (
        "Naloxone training in Kansas City today.",
        ["opioids"],
        ["MO"],
        ["Kansas City, MO"],
    ),
    "dc": (
        "Press briefing in Washington, D.C. on measles.",
        ["outbreaks"],
        ["DC"],
        ["Washington, DC"],
    ),
    "george": ("Researchers at George Washington University.", ["research"], [], []),
    "code": (
        "Clinic opening in Springfield, IL and Atlanta, GA.",
        [],
        ["GA", "IL"],
        ["Atlanta, GA"],
    ),
    "lowercase_words": ("Sign in or log on, me and you.", [], [], []),
    "new_york": (
        "New York City and New York State expand COVID-19 testing.",
        ["covid19"],
        ["NY"],
        ["New York City, NY"],
    ),
    "nih": (
        "Scientists at NIH in Bethesda launch a clinical trial.",
        ["research"],
        ["MD"],
        ["Bethesda, MD"],
    ),
    "spanish": ("La vacuna contra la gripe protege a su familia.", ["flu", "vaccines"], [], []),
    "territory": (
        "Hurricane relief for Puerto Rico and the U.S. Virgin Islands.",
        ["emergency_preparedness"],
        ["PR", "VI"],
        [],
    ),
    # Emoji and curly quotes are not word characters: the words beside them still count.
    "emoji_edges": (
        "💉Flu shots🔬 in Ohio🌽 and Kansas City’s clinics",
        ["flu", "vaccines"],
        ["MO", "OH"],
        ["Kansas City, MO"],
    ),
    # Accented letters are: "Éflu" and "Ohioé" are neither flu nor Ohio.
    "glued_letters": ("Éflu and Ohioé are not words here.", [], [], []),
}


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read again from the environment, before and after the test."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _lake_with_cases(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    write_posts(lake, [post(pid, text) for pid, (text, *_) in CASES.items()])
    return lake


def test_topics_states_and_places_have_known_values(tmp_path: Path) -> None:
    lake = _lake_with_cases(tmp_path)
    enrich_posts(lake, taxonomy=load_taxonomy())
    rows = by_post(lake.read("silver/post_features"))
    got = {pid: (rows[pid]["topics"], rows[pid]["states"], rows[pid]["places"]) for pid in CASES}
    want = {pid: (topics, states, places) for pid, (_, topics, states, places) in CASES.items()}
    assert got == want


def _with_neighbours(texts: list[str]) -> pl.Series:
    """Every text with, at each of its positions in turn, a character that is not ASCII: an
    emoji, a variation selector, a zero-width joiner, an accent, a dash, a curly quote."""
    inserts = ["🔬", "\ufe0f", "\u200d", "é", "\u0301", "—", "’", "🇺🇸"]
    out = [
        text[:at] + char + text[at:]
        for text in texts
        for at in range(len(text) + 1)
        for char in inserts
    ]
    return pl.Series("text", out + texts + [None])


def test_topics_found_after_a_quick_check_equal_the_whole_patterns() -> None:
    """Topics and place names are first looked for without word boundaries (fast), then with
    them only where that found something: the same hits as the whole patterns everywhere."""
    taxonomy = load_taxonomy()
    texts = _with_neighbours([text for text, *_ in CASES.values()])
    assert texts.len() >= TWO_PASSES_FROM  # the two passes run
    want = pl.DataFrame(
        {
            name: texts.str.contains(topic.pattern()).fill_null(False)
            for name, topic in sorted(taxonomy.topics.items())
        }
    ).select(
        pl.concat_list([pl.when(pl.col(n)).then(pl.lit(n)) for n in sorted(taxonomy.topics)])
        .list.drop_nulls()
        .alias("text")
    )
    got = taxonomy.match(texts)
    assert got.to_list() == want["text"].to_list()
    assert sum(len(t) for t in got.to_list()) > 5_000  # the texts do name topics
    named = texts.str.contains(NAMES_RE).fill_null(False)
    assert named.sum() > 3_000
    assert not (named & ~texts.str.contains(_LOOSE_NAMES_RE).fill_null(False)).any()


def test_a_user_taxonomy_extends_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    lake = _lake_with_cases(tmp_path)
    enrich_posts(lake, taxonomy=load_taxonomy())
    shipped_version = lake.read("silver/post_features")["taxonomy_version"][0]

    mine = tmp_path / "my-topics.yaml"
    mine.write_text(
        """
version: acme-1
topics:
  hearing:                      # a new topic
    description: Hearing loss and hearing aids.
    terms: [hearing aid*, {term: NIDCD, case_sensitive: true}]
  tobacco:                      # shipped: these terms are added to its own
    terms: [wildfire smoke]
  recalls:                      # shipped: dropped
    enabled: false
  hiv:                          # shipped: replaced
    replace: true
    terms: [PrEP]
"""
    )
    monkeypatch.setenv("HHS_TOPICS_FILE", str(mine))
    get_settings.cache_clear()
    result = enrich_posts(lake)  # the taxonomy from the settings
    assert result.rows_in == len(CASES)  # a new taxonomy re-enriches every post
    rows = by_post(lake.read("silver/post_features"))
    assert rows["aids"]["topics"] == ["aging", "hearing"]
    assert rows["smoke"]["topics"] == ["emergency_preparedness", "tobacco"]
    assert rows["vaping"]["topics"] == ["tobacco"]  # the shipped terms still match
    assert rows["recall"]["topics"] == ["food_safety"]
    assert rows["hiv"]["topics"] == ["hiv"]  # PrEP (case-insensitive now: the file's default)
    version = rows["aids"]["taxonomy_version"]
    assert version.startswith(f"{load_taxonomy().version}+acme-1#") and version != shipped_version
    assert enrich_posts(lake).rows_in == 0  # same taxonomy, nothing seen again: nothing to do

    # an edit without a version bump still re-enriches (the version carries a digest)
    mine.write_text(mine.read_text().replace("[wildfire smoke]", "[wildfire smoke, hookah]"))
    assert enrich_posts(lake).rows_in == len(CASES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("topics: {x: {terms: [a]}}", "add a 'version:' key"),
        ("version: 1\ntopics: {Bad-Name: {terms: [a]}}", "lowercase letters"),
        ("version: 1\ntopics: {new_one: {description: nothing}}", "has no terms"),
        ("version: 1\ntopics: {x: {terms: ['*a']}}", "'*' only at its end"),
        ("version: 1\ntopics: {x: {terms: [a], colour: red}}", "unknown key(s) colour"),
        ("version: [1\n", "not valid YAML"),
    ],
)
def test_a_malformed_user_taxonomy_names_the_file_and_the_fault(
    tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigurationError) as err:
        load_taxonomy(bad)
    assert str(bad) in str(err.value) and message in str(err.value)


def test_a_missing_user_taxonomy_says_which_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"HHS_TOPICS_FILE=.*nope\.yaml"):
        load_taxonomy(tmp_path / "nope.yaml")

"""Text features of posts on a real lake: known answers, schema, incremental == full rebuild."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
from enrich_rows import by_post, post, write_posts

from hhs_platform.enrich import enrich_posts, load_taxonomy
from hhs_platform.lake.store import Lake
from schemas import table_spec

TAXONOMY = load_taxonomy()

POSTS = [
    post(
        "p1",
        "Flu season is here 💉❄️ Get your #FluShot today! https://t.co/AbC123 @CDCgov.",
        lang="en-US",
        hashtags=["FluShot"],
        mentions=["CDCgov"],
    ),
    post(
        "p2",
        "Naloxone saves lives. www.cdc.gov/overdose/preven... #StopOverdose #stopoverdose",
        platform="bluesky",
        account_id="did:plc:cdc",
        lang="en",
        hashtags=["StopOverdose"],
        mentions=["did:plc:abc"],
        links=[
            "https://www.cdc.gov/overdose/prevention/index.html?utm_source=bluesky",
            "https://acf.hhs.gov/news",
            "https://www.bbc.co.uk/news/health",
            "https://youtu.be/abc",
            "https://go.usa.gov/xyz",
        ],
    ),
    post(
        "p3",
        "El sarampión está aumentando. Vacúnese para proteger a su familia y a los niños 👨‍👩‍👧 🇺🇸",
        platform="facebook",
        account_id="cdc-es",
    ),
    post("p4", None, platform="x", post_type="repost"),
    post(
        "p5",
        "Watch our new video",
        platform="youtube",
        account_id="UCcdc",
        title="How Vaccines Work 👍🏽",
        lang="und",
        links=[],
    ),
    post(
        "p6",
        "Read https://bit.ly/3xyz and https://www.nih.gov/news-events. Email info@cdc.gov, "
        "page.html#section and &#39; are not tags. #2024 neither, #Año2024 is.",
        platform="mastodon",
        account_id="cdc-m",
    ),
]
#: Emoji between words leave them words; a zero-width joiner (a word character) does not.
WORD_EDGES = [
    post("w1", "🔬the🔬and🔬of🔬 the\u200dand", platform="threads", account_id="cdc-t"),
    post("w2", "the\u200dand\u200dof y", platform="threads", account_id="cdc-t"),
]


def test_text_features_have_known_values(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_posts(lake, POSTS + WORD_EDGES)
    result = enrich_posts(lake, taxonomy=TAXONOMY)
    assert (result.rows_in, result.inserted) == (8, 8)
    features = lake.read("silver/post_features")
    table_spec("silver/post_features").model.validate(features)  # the contract holds
    rows = by_post(features)

    p1 = rows["p1"]
    assert p1["text_length"] == len(POSTS[0]["text"])
    # Flu, season, is, here, Get, your, FluShot, today, CDCgov (the link is not a word)
    assert p1["word_count"] == 9
    assert (p1["emoji"], p1["emoji_count"]) == (["💉", "❄️"], 2)
    assert p1["hashtags"] == ["flushot"]
    assert p1["mentions"] == ["cdcgov"]
    assert (p1["link_domains"], p1["links_shortened"]) == (["t.co"], True)
    assert (p1["language"], p1["language_source"]) == ("en", "platform")

    p2 = rows["p2"]
    assert p2["hashtags"] == ["stopoverdose"]  # the text's and the platform's, once
    assert p2["mentions"] == ["did:plc:abc"]  # no handle in the text: the platform's mention
    # the platform's whole links, not the cut one of the text; registered domains, in order
    assert p2["link_domains"] == ["cdc.gov", "hhs.gov", "bbc.co.uk", "youtube.com", "go.usa.gov"]
    assert p2["links_shortened"] is True  # go.usa.gov is a shortener
    assert p2["word_count"] == 5  # Naloxone saves lives StopOverdose stopoverdose (no link)

    p3 = rows["p3"]
    assert p3["emoji"] == ["👨\u200d👩\u200d👧", "🇺🇸"]  # a ZWJ family and a flag are one emoji each
    assert (p3["language"], p3["language_source"]) == ("es", "detected")
    assert (p3["link_domains"], p3["links_shortened"]) == ([], False)

    p4 = rows["p4"]  # a repost without text: zeros and empty lists, never nulls
    assert (p4["text_length"], p4["word_count"], p4["emoji_count"]) == (0, 0, 0)
    assert (p4["hashtags"], p4["topics"], p4["states"], p4["language"]) == ([], [], [], None)

    p5 = rows["p5"]  # title and text together; "und" is no language
    assert p5["text_length"] == len("How Vaccines Work 👍🏽\nWatch our new video")
    assert p5["emoji"] == ["👍🏽"]
    assert p5["word_count"] == 7
    assert (p5["language"], p5["language_source"]) == (None, None)
    assert "vaccines" in p5["topics"]

    p6 = rows["p6"]
    assert p6["link_domains"] == ["bit.ly", "nih.gov"]
    assert p6["links_shortened"] is True
    assert p6["hashtags"] == ["año2024"]  # no e-mail, fragment, entity or number-only tag
    assert p6["mentions"] == []  # info@cdc.gov is an address, not a mention
    assert p6["language"] == "en"

    assert (rows["w1"]["language"], rows["w1"]["language_source"]) == ("en", "detected")
    assert (rows["w2"]["language"], rows["w2"]["language_source"]) == (None, None)

    version = features["taxonomy_version"].unique().to_list()
    assert len(version) == 1 and version[0].startswith(TAXONOMY.version + "#")
    assert features["source_last_seen_at"].to_list() == [
        rows[pid]["source_last_seen_at"] for pid in features["post_id"]
    ]


def _comparable(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop("enriched_at").sort("platform", "post_id")


def test_incremental_enrichment_equals_a_full_rebuild(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_posts(lake, POSTS)
    assert enrich_posts(lake, taxonomy=TAXONOMY).inserted == 6
    first = lake.read("silver/post_features")
    # nothing changed: nothing to do
    again = enrich_posts(lake, taxonomy=TAXONOMY)
    assert (again.rows_in, again.inserted, again.updated) == (0, 0, 0)

    # p1 edited (seen later with new text), p2 seen again unchanged, p7 new, p3 seen earlier
    # (an old response replayed: not newer, nothing to do)
    edited = post(
        "p1",
        "Measles in Texas: get the MMR vaccine 💉 #VaccinesWork",
        lang="en",
        seen_hours=5,
    )
    seen_again = post(
        "p2",
        POSTS[1]["text"],
        platform="bluesky",
        account_id="did:plc:cdc",
        lang="en",
        hashtags=["StopOverdose"],
        mentions=["did:plc:abc"],
        links=POSTS[1]["links"],
        seen_hours=3,
    )
    new = post("p7", "Hurricane season starts in Florida. Build an emergency kit 🌀", hours=4)
    write_posts(lake, [edited, seen_again, new])
    step = enrich_posts(lake, taxonomy=TAXONOMY)
    assert (step.rows_in, step.inserted, step.updated) == (3, 1, 2)

    incremental = lake.read("silver/post_features")
    untouched = {"p3", "p4", "p5", "p6"}
    before = first.filter(pl.col("post_id").is_in(untouched)).sort("post_id")
    after = incremental.filter(pl.col("post_id").is_in(untouched)).sort("post_id")
    assert after.equals(before)  # enriched_at included: not recomputed
    p1 = by_post(incremental)["p1"]
    assert (p1["topics"], p1["states"], p1["hashtags"]) == (
        ["outbreaks", "vaccines"],
        ["TX"],
        ["vaccineswork"],
    )

    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "lake", copy)
    full = enrich_posts(Lake(str(copy)), full=True, taxonomy=TAXONOMY)
    assert full.rows_in == 7
    rebuilt = Lake(str(copy)).read("silver/post_features")
    assert _comparable(incremental).equals(_comparable(rebuilt))

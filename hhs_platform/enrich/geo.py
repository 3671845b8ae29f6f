"""U.S. states and major places named in a post's text, as USPS codes and "Place, ST" names.

The gazetteer below is written by hand: every state, DC and the inhabited territories with their
USPS codes, and a modest list of large cities and places where HHS agencies sit. Names match as
words; state names in any case, places and codes only as written (capitalised), because "buffalo"
or "mobile" in lowercase is rarely a place. A place implies its state. A two-letter code counts
only after a capitalised word and a comma ("Springfield, IL"), since bare "IN", "OR" or "ME" are
ordinary words.
"""

from __future__ import annotations

import re

import polars as pl

#: (USPS code, name) of every state, the District of Columbia and the inhabited territories.
STATES: tuple[tuple[str, str], ...] = (
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    ("DC", "District of Columbia"),
    ("PR", "Puerto Rico"),
    ("GU", "Guam"),
    ("VI", "U.S. Virgin Islands"),
    ("AS", "American Samoa"),
    ("MP", "Northern Mariana Islands"),
)

#: Other names of a state: (alias, code).
STATE_ALIASES: tuple[tuple[str, str], ...] = (
    ("Virgin Islands", "VI"),
    ("Washington State", "WA"),
    ("Hawai'i", "HI"),
)

#: (place, USPS code): large cities and places where HHS and its agencies work. A name shared by
#: several states maps to the largest one (Portland → OR, Kansas City → MO).
PLACES: tuple[tuple[str, str], ...] = (
    ("New York City", "NY"),
    ("Los Angeles", "CA"),
    ("Chicago", "IL"),
    ("Houston", "TX"),
    ("Phoenix", "AZ"),
    ("Philadelphia", "PA"),
    ("San Antonio", "TX"),
    ("San Diego", "CA"),
    ("Dallas", "TX"),
    ("San Jose", "CA"),
    ("Austin", "TX"),
    ("Jacksonville", "FL"),
    ("Fort Worth", "TX"),
    ("Columbus", "OH"),
    ("Charlotte", "NC"),
    ("Indianapolis", "IN"),
    ("San Francisco", "CA"),
    ("Seattle", "WA"),
    ("Denver", "CO"),
    ("Oklahoma City", "OK"),
    ("Nashville", "TN"),
    ("El Paso", "TX"),
    ("Boston", "MA"),
    ("Portland", "OR"),
    ("Las Vegas", "NV"),
    ("Detroit", "MI"),
    ("Memphis", "TN"),
    ("Louisville", "KY"),
    ("Baltimore", "MD"),
    ("Milwaukee", "WI"),
    ("Albuquerque", "NM"),
    ("Tucson", "AZ"),
    ("Fresno", "CA"),
    ("Sacramento", "CA"),
    ("Kansas City", "MO"),
    ("Atlanta", "GA"),
    ("Miami", "FL"),
    ("Omaha", "NE"),
    ("Raleigh", "NC"),
    ("Minneapolis", "MN"),
    ("Tulsa", "OK"),
    ("Cleveland", "OH"),
    ("Tampa", "FL"),
    ("New Orleans", "LA"),
    ("Honolulu", "HI"),
    ("Anchorage", "AK"),
    ("St. Louis", "MO"),
    ("Pittsburgh", "PA"),
    ("Cincinnati", "OH"),
    ("Orlando", "FL"),
    ("Salt Lake City", "UT"),
    ("Richmond", "VA"),
    ("Virginia Beach", "VA"),
    ("Birmingham", "AL"),
    ("Boise", "ID"),
    ("Des Moines", "IA"),
    ("Little Rock", "AR"),
    ("Hartford", "CT"),
    ("Newark", "NJ"),
    ("Atlantic City", "NJ"),
    ("Baton Rouge", "LA"),
    ("Santa Fe", "NM"),
    ("Juneau", "AK"),
    ("Cheyenne", "WY"),
    ("Fargo", "ND"),
    ("Sioux Falls", "SD"),
    ("Billings", "MT"),
    ("Spokane", "WA"),
    ("Oakland", "CA"),
    ("Long Beach", "CA"),
    ("Colorado Springs", "CO"),
    ("Flint", "MI"),
    ("San Juan", "PR"),
    ("Bethesda", "MD"),
    ("Rockville", "MD"),
    ("Silver Spring", "MD"),
    ("Research Triangle Park", "NC"),
    ("Washington DC", "DC"),
)

#: Other names of a place: (alias, place).
PLACE_ALIASES: tuple[tuple[str, str], ...] = (
    ("NYC", "New York City"),
    ("Saint Louis", "St. Louis"),
    ("DC", "Washington DC"),
)

#: Phrases that contain a state's name but do not mean it (matched first, then dropped).
DECOYS: tuple[str, ...] = (
    "George Washington",
    "Washington Post",
    "Martha Washington",
    "Booker T. Washington",
    "New Mexico State University",
)

_SEP = r"[\s,.'’_\-]*"
_CODES = "|".join(code for code, _ in STATES)
_CODE_RE = rf"\b\p{{Lu}}[\p{{L}}.'’\-]*,\s*(?:{_CODES})\b"


def _words(name: str) -> list[str]:
    return re.findall(r"[^\W_]+", name)


def _key(name: str) -> str:
    return "".join(_words(name)).lower()


def _word_pattern(word: str) -> str:
    # An abbreviation may be written with dots: DC, D.C.; NYC, N.Y.C.
    if word.isupper() and 2 <= len(word) <= 3:
        return r"\.?".join(re.escape(c) for c in word)
    return re.escape(word)


def _place_label(name: str, code: str) -> str:
    words = _words(name)
    if words[-1] == code:  # "Washington DC" -> "Washington, DC"
        return f"{' '.join(words[:-1])}, {code}"
    return f"{name}, {code}"


def _aliases() -> pl.DataFrame:
    """Every matchable name: key (lowercase letters and digits), case rule, state and place."""
    rows: list[tuple[str, bool, str | None, str | None]] = []  # name, case-sensitive, state, place
    place_state = {}
    for place, code in PLACES:
        place_state[place] = (code, _place_label(place, code))
        rows.append((place, True, *place_state[place]))
    for alias, place in PLACE_ALIASES:
        rows.append((alias, True, *place_state[place]))
    rows += [(name, False, code, None) for code, name in STATES]
    rows += [(alias, False, code, None) for alias, code in STATE_ALIASES]
    rows += [(decoy, True, None, None) for decoy in DECOYS]
    meaning: dict[str, tuple[str | None, str | None]] = {}
    for name, _, state, label in rows:
        if meaning.setdefault(_key(name), (state, label)) != (state, label):
            raise ValueError(f"gazetteer name {name!r} means two things")  # a bug in the tables
    return pl.DataFrame(
        {
            "key": [_key(name) for name, *_ in rows],
            "name": [name for name, *_ in rows],
            "case_sensitive": [cs for _, cs, _, _ in rows],
            "state": [state for _, _, state, _ in rows],
            "place": [place for *_, place in rows],
        }
    )


ALIASES = _aliases()


def _pattern(*, bounded: bool = True) -> str:
    # Longest names first: the regex engine takes the first alternative that matches at a
    # position, so "Kansas City" wins over "Kansas" and "West Virginia" over "Virginia".
    alts = []
    for name, cs in sorted(
        zip(ALIASES["name"], ALIASES["case_sensitive"], strict=True), key=lambda r: -len(r[0])
    ):
        body = _SEP.join(_word_pattern(w) for w in _words(name))
        body = rf"\b{body}\b" if bounded else body
        alts.append(body if cs else f"(?i:{body})")
    return "|".join(alts)


NAMES_RE = _pattern()
#: NAMES_RE without its word boundaries: it matches every text NAMES_RE matches (and more), in
#: polars' fast automaton, which checks a Unicode word boundary only on ASCII text.
_LOOSE_NAMES_RE = _pattern(bounded=False)


def gazetteer_digest_source() -> str:
    """Everything that decides the geography, as text (hashed into the taxonomy version)."""
    return repr((STATES, STATE_ALIASES, PLACES, PLACE_ALIASES, DECOYS, _SEP, _CODE_RE))


def geo_features(df: pl.DataFrame, text: str) -> pl.DataFrame:
    """Add ``states`` (sorted USPS codes) and ``places`` (sorted "Place, ST") from column ``text``.

    ``df`` must have a unique ``_row`` column; the result keeps its rows and order.
    """
    # Names are looked for only in the texts that pass the quick check (the same hits).
    named = df.filter(pl.col(text).str.contains(_LOOSE_NAMES_RE)).select(
        "_row", hit=pl.col(text).str.extract_all(NAMES_RE)
    )
    coded = df.select("_row", hit=pl.col(text).str.extract_all(_CODE_RE))
    codes = (
        coded.explode("hit")
        .filter(pl.col("hit").is_not_null())
        .select("_row", state=pl.col("hit").str.slice(-2), place=pl.lit(None, pl.Utf8))
    )
    names = (
        named.explode("hit")
        .filter(pl.col("hit").is_not_null())
        .with_columns(key=pl.col("hit").str.replace_all(r"[^\p{L}\p{N}]", "").str.to_lowercase())
        .join(ALIASES.select("key", "state", "place").unique("key"), on="key", how="inner")
        .select("_row", "state", "place")
    )
    per_row = (
        pl.concat([codes, names])
        .group_by("_row")
        .agg(
            pl.col("state").drop_nulls().unique().sort().alias("states"),
            pl.col("place").drop_nulls().unique().sort().alias("places"),
        )
    )
    empty = pl.lit([], dtype=pl.List(pl.Utf8))
    return df.join(per_row, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("states").fill_null(empty),
        pl.col("places").fill_null(empty),
    )

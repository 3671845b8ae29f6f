"""Text features of posts: length, words, emoji, hashtags, mentions, link domains and language.

Every function here works on a whole polars frame at once (no Python loop over posts).
Links are not followed: a shortened link (t.co, bit.ly, ...) keeps the shortener's domain and
sets ``links_shortened``.
"""

from __future__ import annotations

import polars as pl

#: A link with a scheme, in text.
URL_RE = r"(?i)\bhttps?://[^\s<>\"'()\[\]{}]+"
#: What is removed from text before words, hashtags, topics and places are looked for: links with
#: a scheme, ``www.`` links and bare ``domain.tld/path`` links (Bluesky shows links that way).
ANY_URL_RE = (
    r"(?i)\bhttps?://[^\s<>\"'()\[\]{}]+|\bwww\.[^\s<>\"'()\[\]{}]+"
    r"|\b[\w-]+(?:\.[\w-]+)+/[^\s<>\"'()\[\]{}]*"
)
WORD_RE = r"[\p{L}\p{N}]+(?:['’][\p{L}]+)*"
HASHTAG_RE = r"\B#[\p{L}\p{N}_]+"
MENTION_RE = r"\B@[\p{L}\p{N}_.\-]+"
#: One emoji as people see it: a flag (two regional indicators), a keycap, or a pictograph shown
#: as emoji with its skin-tone modifier or variation selector and any zero-width-joined parts.
_PICTO = r"(?:\p{Emoji_Presentation}|\p{Extended_Pictographic}\x{FE0F})"
EMOJI_RE = (
    r"\p{Regional_Indicator}{2}|[0-9#*]\x{FE0F}?\x{20E3}"
    rf"|{_PICTO}(?:\p{{Emoji_Modifier}}|\x{{FE0F}})?"
    r"(?:\x{200D}(?:\p{Emoji_Presentation}|\p{Extended_Pictographic}\x{FE0F}?)"
    r"(?:\p{Emoji_Modifier}|\x{FE0F})?)*"
)
_HOST_RE = r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*://)?(?:[^@/?#\s]*@)?([^/?#:\s]+)"

#: Hosts whose links redirect elsewhere; the target is unknown without fetching it.
SHORTENERS: frozenset[str] = frozenset(
    {
        "t.co",
        "bit.ly",
        "bitly.com",
        "ow.ly",
        "buff.ly",
        "tinyurl.com",
        "goo.gl",
        "go.usa.gov",
        "fb.me",
        "lnkd.in",
        "dlvr.it",
        "trib.al",
        "spr.ly",
        "is.gd",
        "cutt.ly",
        "rebrand.ly",
        "tiny.cc",
        "shorturl.at",
        "t.ly",
        "s.id",
        "j.mp",
        "wp.me",
        "amzn.to",
    }
)
#: Short hosts that always point at one site: recorded as that site, not as a shortener.
DOMAIN_ALIASES: dict[str, str] = {
    "youtu.be": "youtube.com",
    "redd.it": "reddit.com",
    "flic.kr": "flickr.com",
}
#: Public suffixes of more than one label (the registered domain is one label more). A short,
#: hand-kept subset of the Public Suffix List: the suffixes links from U.S. health agencies use.
MULTI_LABEL_SUFFIXES: frozenset[str] = frozenset(
    {
        *(f"{s}.uk" for s in ("co", "org", "gov", "ac", "nhs", "me", "ltd", "plc", "net")),
        *(f"{s}.au" for s in ("com", "gov", "org", "edu", "net")),
        *(f"{s}.nz" for s in ("co", "govt", "org", "ac")),
        *(f"{s}.jp" for s in ("co", "go", "ne", "or", "ac")),
        *(f"{s}.in" for s in ("co", "gov", "org", "nic")),
        *(f"{s}.br" for s in ("com", "gov", "org")),
        *(f"{s}.mx" for s in ("com", "gob", "org")),
        *(f"{s}.za" for s in ("co", "gov", "org")),
        *(f"{s}.cn" for s in ("com", "gov", "org")),
        *(f"{s}.kr" for s in ("co", "go", "or")),
        "gc.ca",
        "com.sg",
        "gov.sg",
        "com.tw",
        "com.hk",
        "gov.hk",
        "github.io",
        "blogspot.com",
        "cloudfront.net",
        "azurewebsites.net",
        "herokuapp.com",
        "s3.amazonaws.com",
    }
)
#: Language codes that say "no language" or "several".
_NO_LANGUAGE = ["und", "zxx", "mul", "mis", "qme", "qht"]
#: Frequent short words of English and Spanish, for the fallback language guess.
_EN_WORDS = (
    r"(?i)\b(?:the|and|of|to|is|for|your|you|with|are|this|that|it|from|be|can|how|about"
    r"|more|our|we|what|have|at|in|on|or|will|not|get|all|an|if|who|when|learn)\b"
)
_ES_WORDS = (
    r"(?i)\b(?:el|la|los|las|del|que|y|para|con|por|una|un|es|su|sus|más|como|se|al|lo|tu"
    r"|de|en|usted|cuando|sobre|le|les|puede|pueden|este|esta|nuestro|obtenga)\b"
)

#: Characters outside ASCII that are not word characters (emoji, curly quotes, dashes). The
#: language guess counts its words in text where they are spaces: every word boundary stays where
#: it was, and polars' regex engine then counts in its fast automaton, which checks a Unicode
#: word boundary only on ASCII text (3-5 times faster on text with emoji).
_NON_ASCII_NON_WORD = r"[^\x00-\x7F\w]"

_EMPTY = pl.lit([], dtype=pl.List(pl.Utf8))


def _list(col: str) -> pl.Expr:
    return pl.col(col).fill_null(_EMPTY)


def text_features(df: pl.DataFrame) -> pl.DataFrame:
    """Add the text feature columns to silver posts.

    ``df`` has ``_row`` (unique), ``text``, ``title``, ``lang``, ``hashtags``, ``mentions`` and
    ``links``. Added: ``text_length``, ``word_count``, ``emoji``, ``emoji_count``, ``hashtags``
    (replaced: normalised), ``mentions`` (replaced), ``link_domains``, ``links_shortened``,
    ``language``, ``language_source`` and ``_match`` (the text topics and places are looked for in).
    """
    body = pl.concat_str([pl.col("title"), pl.col("text")], separator="\n", ignore_nulls=True)
    df = (
        df.with_columns(_body=body.fill_null(""))
        .with_columns(_plain=pl.col("_body").str.replace_all(ANY_URL_RE, " "))
        .with_columns(_spaced=pl.col("_plain").str.replace_all(_NON_ASCII_NON_WORD, " "))
    )
    text_tags = pl.col("_plain").str.extract_all(HASHTAG_RE).list.eval(pl.element().str.slice(1))
    given_tags = _list("hashtags").list.eval(pl.element().str.strip_chars().str.strip_chars("#"))
    text_mentions = (
        pl.col("_plain")
        .str.extract_all(MENTION_RE)
        .list.eval(pl.element().str.slice(1).str.strip_chars_end(".-").str.to_lowercase())
    )
    given_mentions = _list("mentions").list.eval(
        pl.element().str.strip_chars().str.strip_chars_start("@").str.to_lowercase()
    )
    text_links = (
        pl.col("_body")
        .str.extract_all(URL_RE)
        .list.eval(pl.element().str.strip_chars_end(".,;:!?…"))
    )
    df = df.with_columns(
        text_length=pl.col("_body").str.len_chars().cast(pl.Int64),
        word_count=pl.col("_plain").str.count_matches(WORD_RE).cast(pl.Int64),
        emoji=pl.col("_body").str.extract_all(EMOJI_RE),
        _tags=pl.concat_list(text_tags, given_tags).list.eval(
            pl.element().filter(pl.element().str.contains(r"\p{L}"))
        ),
        # The text shows handles; platforms that mark mentions only in their own form (Bluesky
        # DIDs, LinkedIn URNs, Reddit u/ names) give them in silver/posts.mentions.
        mentions=pl.when(text_mentions.list.len() > 0)
        .then(text_mentions)
        .otherwise(given_mentions)
        .list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
        .list.unique(maintain_order=True),
        # The platform's links are whole (Bluesky shows a cut one, X a t.co one in the text).
        _links=pl.when(_list("links").list.len() > 0).then(_list("links")).otherwise(text_links),
    )
    df = df.with_columns(
        emoji_count=pl.col("emoji").list.len().cast(pl.Int64),
        hashtags=pl.col("_tags")
        .list.eval(pl.element().str.to_lowercase())
        .list.unique(maintain_order=True),
        # Hashtags split into words ("#FluSeason" -> "Flu Season") so topic and place terms match.
        _match=pl.concat_str(
            [
                pl.col("_plain"),
                pl.col("_tags")
                .list.join(" ")
                .str.replace_all(r"(\p{Ll})(\p{Lu})", "${1} ${2}")
                .str.replace_all(r"(\p{Lu})(\p{Lu}\p{Ll})", "${1} ${2}")
                .str.replace_all(r"(\p{L})(\p{N})", "${1} ${2}")
                .str.replace_all(r"(\p{N})(\p{L})", "${1} ${2}"),
            ],
            separator="\n",
        ),
        **_language(),
    )
    df = _link_features(df)
    return df.drop("_body", "_plain", "_spaced", "_tags", "_links")


def _language() -> dict[str, pl.Expr]:
    given = (
        pl.col("lang")
        .str.strip_chars()
        .str.to_lowercase()
        .str.extract(r"^([a-z]{2,3})(?:[-_].*)?$")
    )
    given = pl.when(given.is_in(_NO_LANGUAGE)).then(None).otherwise(given)
    en = pl.col("_spaced").str.count_matches(_EN_WORDS)
    es = pl.col("_spaced").str.count_matches(_ES_WORDS)
    guess = (
        pl.when((en + es >= 3) & (en >= 2 * es))
        .then(pl.lit("en"))
        .when((en + es >= 3) & (es >= 2 * en))
        .then(pl.lit("es"))
    )
    return {
        "language": pl.coalesce(given, guess),
        "language_source": pl.when(given.is_not_null())
        .then(pl.lit("platform"))
        .when(guess.is_not_null())
        .then(pl.lit("detected")),
    }


def registered_domain(host: pl.Expr) -> pl.Expr:
    """The registered domain of a lowercase host: ``www.cdc.gov`` → ``cdc.gov``.

    Shorteners keep their whole host (``go.usa.gov``), aliases map to their site
    (``youtu.be`` → ``youtube.com``) and IP addresses stay as they are.
    """
    labels = host.str.split(".")
    last2 = labels.list.slice(-2).list.join(".")
    last3 = labels.list.slice(-3).list.join(".")
    domain = (
        pl.when(host.is_in(list(SHORTENERS)) | host.str.contains(r"^[\d.]+$"))
        .then(host)
        .when((labels.list.len() >= 3) & last2.is_in(list(MULTI_LABEL_SUFFIXES)))
        .then(last3)
        .otherwise(last2)
    )
    return domain.replace(DOMAIN_ALIASES)


def _link_features(df: pl.DataFrame) -> pl.DataFrame:
    links = (
        df.select("_row", link=pl.col("_links"))
        .explode("link")
        .filter(pl.col("link").is_not_null())
        .with_columns(
            host=pl.col("link")
            .str.strip_chars()
            .str.extract(_HOST_RE)
            .str.to_lowercase()
            .str.strip_chars_end(".")
        )
        .filter(pl.col("host").is_not_null() & (pl.col("host") != ""))
        .with_columns(domain=registered_domain(pl.col("host")))
        .group_by("_row")
        .agg(
            pl.col("domain").unique(maintain_order=True).alias("link_domains"),
            pl.col("host").is_in(list(SHORTENERS)).any().alias("links_shortened"),
        )
    )
    return df.join(links, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("link_domains").fill_null(_EMPTY),
        pl.col("links_shortened").fill_null(False),
    )

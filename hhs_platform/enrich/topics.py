"""The health topic taxonomy: load the shipped YAML, merge a user's over it, match posts to topics.

The format is documented in ``topics.yaml`` itself and in docs/enrichment.md. Matching is one
regular expression per topic run by polars over every post at once (first without its word
boundaries, a quick check; see ``Taxonomy.match``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from hhs_platform.errors import ConfigurationError

SHIPPED = "topics.yaml"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Between the words of a phrase: nothing, spaces, dashes, underscores or dots, so "mental
#: health" also matches "mental-health" and the split hashtag "#MentalHealth".
_SEP = r"[\s_.\-‐‑–—]*"
_WORD_CHARS = r"[\p{L}\p{N}_]*"
#: From this many texts on, :meth:`Taxonomy.match` runs a quick check before each topic's whole
#: pattern (the break-even of the measured costs: 34 µs a text for the 26 whole patterns alone,
#: 8.5 µs with the quick check, 89 ms of compiling for each pass).
TWO_PASSES_FROM = 3_000


@dataclass(frozen=True)
class Term:
    """One word or phrase of a topic and how it matches."""

    text: str
    case_sensitive: bool = False
    word_boundary: bool = True
    prefix: bool = False  # written with a trailing '*': any ending matches

    def pattern(self, *, bounded: bool = True) -> str:
        """The term as a (Rust) regular expression; ``bounded=False`` leaves out its word
        boundaries (it then matches wherever the term does, and more)."""
        words = re.findall(r"[^\W_]+", self.text)
        body = _SEP.join(re.escape(w) for w in words)
        if self.prefix:
            body += _WORD_CHARS
        if self.word_boundary and bounded:
            body = rf"\b{body}\b"
        return body if self.case_sensitive else f"(?i:{body})"


@dataclass(frozen=True)
class Topic:
    """A health topic: what it covers and the terms that put a post under it."""

    name: str
    description: str
    terms: tuple[Term, ...]

    def pattern(self, *, bounded: bool = True) -> str:
        """One regular expression matching any of the topic's terms (:meth:`Term.pattern`)."""
        return "|".join(t.pattern(bounded=bounded) for t in self.terms)


@dataclass(frozen=True)
class Taxonomy:
    """The effective taxonomy: shipped topics with a user's file merged over them."""

    version: str
    topics: dict[str, Topic]

    def digest(self) -> str:
        """A short hash of every topic and term, so an edit without a version bump still shows."""
        canon = {
            name: [[t.text, t.case_sensitive, t.word_boundary, t.prefix] for t in topic.terms]
            for name, topic in sorted(self.topics.items())
        }
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:8]

    def match(self, text: pl.Series) -> pl.Series:
        """The topic names (sorted) whose terms occur in each value of ``text``, as a list
        column (empty for a null value).

        Each topic's pattern first runs without its word boundaries, over every value; the
        whole pattern then runs only on the values that passed, since whatever matches with the
        boundaries also matches without them. The result is the same as the whole pattern's
        over every value, in a quarter of the time (0.55 s instead of 2.0 s for the pipeline
        benchmark's 44,566 posts): polars' regex engine checks a Unicode word boundary in its
        fast automaton only on ASCII text, and falls back to a slow one on any text with an
        emoji or an accent. Fewer than ``TWO_PASSES_FROM`` values are matched in one pass: each
        pattern is compiled anew at every call (about 3 ms a topic), which costs more than the
        quick check saves on a few posts.
        """
        index = pl.get_index_type()
        found = [pl.DataFrame(schema={"_row": index, "topic": pl.Utf8})]
        quick = text.len() >= TWO_PASSES_FROM
        for name, topic in sorted(self.topics.items()):
            if quick:
                rows = text.str.contains(topic.pattern(bounded=False)).fill_null(False).arg_true()
                if not rows.is_empty():
                    hit = text.gather(rows).str.contains(topic.pattern()).fill_null(False)
                    rows = rows.filter(hit)
            else:
                rows = text.str.contains(topic.pattern()).fill_null(False).arg_true()
            topics = pl.Series("topic", [name] * rows.len(), dtype=pl.Utf8)
            found.append(pl.DataFrame({"_row": rows, "topic": topics}))
        # One row per hit, in topic order, gathered per text (a group keeps its rows' order).
        lists = pl.concat(found).group_by("_row").agg("topic")
        return (
            pl.DataFrame({"_row": pl.arange(0, text.len(), dtype=index, eager=True)})
            .join(lists, on="_row", how="left", maintain_order="left")["topic"]
            .fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
            .alias(text.name)
        )


def load_taxonomy(user_file: Path | str | None = None) -> Taxonomy:
    """The shipped taxonomy, with ``user_file`` (``HHS_TOPICS_FILE``) merged over it.

    The user file has the shipped file's shape. Its topics are added; for a topic the shipped
    file already has, its terms are added to the shipped ones, ``replace: true`` replaces them
    and ``enabled: false`` drops the topic. ``defaults`` of each file apply to that file's terms.

    Raises:
        ConfigurationError: a file is missing or malformed (the message names it and the entry).
    """
    shipped_text = resources.files("hhs_platform.enrich").joinpath(SHIPPED).read_text("utf-8")
    base = _parse(shipped_text, f"shipped {SHIPPED}")
    version = base.version
    topics = dict(base.topics)
    if user_file is not None and str(user_file).strip():
        path = Path(user_file)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"HHS_TOPICS_FILE={path}: cannot read it ({exc.strerror}); point it at a YAML "
                "taxonomy (docs/enrichment.md) or leave it empty"
            ) from None
        user = _parse(text, f"HHS_TOPICS_FILE={path}", partial=True)
        version = f"{version}+{user.version}"
        for name, (topic, mode) in user.changes.items():
            if mode == "drop":
                topics.pop(name, None)
            elif mode == "replace" or name not in topics:
                if not topic.terms:
                    raise ConfigurationError(
                        f"HHS_TOPICS_FILE={path}: new topic {name!r} has no terms"
                    )
                topics[name] = topic
            else:
                old = topics[name]
                terms = old.terms + tuple(t for t in topic.terms if t not in old.terms)
                topics[name] = Topic(name, topic.description or old.description, terms)
    return Taxonomy(version, topics)


@dataclass(frozen=True)
class _Parsed:
    version: str
    topics: dict[str, Topic]
    changes: dict[str, tuple[Topic, str]]  # name -> (topic, "extend" | "replace" | "drop")


@functools.lru_cache(maxsize=8)  # the same text each run: parsing the YAML took 130 ms
def _parse(text: str, where: str, *, partial: bool = False) -> _Parsed:
    """The taxonomy file ``text`` (named ``where`` in errors); cached by its text, so an edited
    file is parsed again. Callers copy what they change."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigurationError(f"{where}: expected a mapping with 'version' and 'topics'")
    version = doc.get("version")
    if version is None or not str(version).strip():
        raise ConfigurationError(f"{where}: add a 'version:' key (e.g. version: \"1\")")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"case_sensitive", "word_boundary"}:
        raise ConfigurationError(
            f"{where}: 'defaults' may only set case_sensitive and word_boundary, got {defaults!r}"
        )
    raw_topics = doc.get("topics")
    if not isinstance(raw_topics, dict) or not raw_topics:
        raise ConfigurationError(f"{where}: 'topics' must map topic names to their terms")
    topics: dict[str, Topic] = {}
    changes: dict[str, tuple[Topic, str]] = {}
    for name, body in raw_topics.items():
        name = str(name)
        if not _NAME_RE.match(name):
            raise ConfigurationError(
                f"{where}: topic name {name!r} must be lowercase letters, digits and '_'"
            )
        body = body or {}
        if not isinstance(body, dict):
            raise ConfigurationError(f"{where}: topic {name!r} must be a mapping with 'terms'")
        allowed = {"description", "terms"} | ({"replace", "enabled"} if partial else set())
        if unknown := set(map(str, body)) - allowed:
            raise ConfigurationError(
                f"{where}: topic {name!r} has unknown key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        terms = tuple(
            _term(t, defaults, f"{where}: topic {name!r}") for t in body.get("terms") or []
        )
        enabled = body.get("enabled", True) is not False
        mode = "drop" if not enabled else "replace" if body.get("replace") else "extend"
        if not terms and mode != "drop" and (mode == "replace" or not partial):
            raise ConfigurationError(f"{where}: topic {name!r} has no terms")
        topic = Topic(name, str(body.get("description") or "").strip(), terms)
        topics[name] = topic
        changes[name] = (topic, mode)
    return _Parsed(str(version).strip(), topics, changes)


def _term(raw: Any, defaults: dict[str, Any], where: str) -> Term:
    options = dict(defaults)
    if isinstance(raw, dict):
        unknown = set(raw) - {"term", "case_sensitive", "word_boundary"}
        if "term" not in raw or unknown:
            raise ConfigurationError(
                f"{where}: a term mapping needs 'term' and may set case_sensitive and "
                f"word_boundary, got {raw!r}"
            )
        options.update({k: v for k, v in raw.items() if k != "term"})
        raw = raw["term"]
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ConfigurationError(f"{where}: a term must be text, got {raw!r}")
    text = str(raw).strip()
    prefix = text.endswith("*")
    text = text.rstrip("*").strip()
    if not re.search(r"[^\W_]", text) or "*" in text:
        raise ConfigurationError(
            f"{where}: term {raw!r} needs a letter or digit and '*' only at its end"
        )
    for key in ("case_sensitive", "word_boundary"):
        if not isinstance(options.get(key, False), bool):
            raise ConfigurationError(f"{where}: {key} of term {raw!r} must be true or false")
    return Term(
        text,
        case_sensitive=bool(options.get("case_sensitive", False)),
        word_boundary=bool(options.get("word_boundary", True)),
        prefix=prefix,
    )

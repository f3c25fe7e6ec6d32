"""Whether the notes file a thing under another category than the question says: asked why the ML summary
classifies Stable Diffusion as a supervised learning model, the summary lists it under the heading "Reinforcement
Learning", a sibling of its "Supervised Learning" heading. A path is a unit's headings then its list topics."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rag.answer.focus import mentions
from rag.core.types import SearchResult, heading_titles
from rag.index.units import chunk_units

_KIND = r"(?:\s+(?:models?|methods?|algorithms?|techniques?|approach(?:es)?|categor(?:y|ies)|famil(?:y|ies)))?"
_CLAIMS = (
    re.compile(  # "classify Stable Diffusion as a supervised learning model"
        r"\b(?:classif(?:y|ies)|categori[sz]es?|lists?|puts?|groups?|files?|places?|counts?)\s+(?P<thing>[^?,;]+?)\s+"
        rf"(?:as|under|among|into|in)\s+(?:an?\s+|the\s+)?(?P<category>[^?,;]+?){_KIND}\s*(?:[?.]|$)", re.IGNORECASE),
    re.compile(  # "why is VAE listed under supervised learning"
        r"\b(?:is|are|was|were)\s+(?P<thing>[^?,;]+?)\s+(?:classified|categori[sz]ed|listed|filed|grouped|placed|"
        rf"counted)\s+(?:as|under|among|into|in)\s+(?:an?\s+|the\s+)?(?P<category>[^?,;]+?){_KIND}\s*(?:[?.]|$)",
        re.IGNORECASE))
_DETERMINER = re.compile(r"^(?:the|a|an|my|our|its|their)\s+", re.IGNORECASE)

Path = tuple[str, tuple[str, ...]]   # (note, headings then list topics)
SEARCH_K = 10   # passages searched for the asked category's own headings (a section title ranks below its mentions)


def claim(part: str) -> tuple[str, str] | None:
    """(thing, category) when the question says the notes file a thing under a category, else None."""
    for pattern in _CLAIMS:
        m = pattern.search(part)
        if m:
            thing = _DETERMINER.sub("", m.group("thing").strip())
            category = m.group("category").strip()
            if thing and category:
                return thing, category
    return None


def paths(heading: str, context: str) -> tuple[str, ...]:
    """A unit's path: its chunk's heading path, then the list topics it sits under."""
    return tuple(title for part in (heading, context) for title in heading_titles(part))


def category_paths(category: str, found: Iterable[Path]) -> list[Path]:
    """The prefixes of `found` paths that end in a part naming the category ("... > Supervised Learning")."""
    out = []
    for note, path in found:
        for i, part in enumerate(path):
            if mentions(part, category) and (note, path[:i + 1]) not in out:
                out.append((note, path[:i + 1]))
    return out


def misfiled(category: str, thing_paths: list[Path], categories: list[Path]) -> str | None:
    """The heading the notes file the thing under, where it is a sibling of the asked category (same parent, same
    note); None when a unit mentioning the thing sits under the asked category, or no such sibling is found.
    `thing_paths` are the paths of the units that mention the thing; `categories` from category_paths."""
    if any(mentions(part, category) for _, path in thing_paths for part in path):
        return None
    for note, cpath in categories:
        parent = [p.lower() for p in cpath[:-1]]
        for where, tpath in thing_paths:
            if where == note and len(tpath) > len(parent) and [p.lower() for p in tpath[:len(parent)]] == parent:
                return tpath[len(parent)]
    return None


def _unit_paths(results: Iterable[SearchResult], thing: str | None = None) -> list[Path]:
    """The paths of the units of `results` (those mentioning `thing`, when given), and of the chunks themselves."""
    out: list[Path] = []
    for r in results:
        text = r.chunk.text
        for u in chunk_units(text):
            if thing is None or mentions(text[u.start:u.end], thing) or mentions(u.context, thing):
                out.append((r.chunk.source, paths(r.chunk.heading, u.context)))
        if thing is None:
            out.append((r.chunk.source, paths(r.chunk.heading, "")))
    return out


def misfiled_parts(parts: Iterable[str], results: list[SearchResult],
                   search: Callable[[str], list[SearchResult]]) -> list[str]:
    """'"the heading the notes use", not "the asked category"' for each part that files a thing under a category the
    notes file it beside; `search(category)` finds the asked category's own headings."""
    out = []
    for part in parts:
        found = claim(part)
        holding = _unit_paths(results, found[0]) if found else []
        if not holding:
            continue
        asked = found[1]
        where = misfiled(asked, holding, category_paths(asked, _unit_paths(search(asked))))
        if where:
            out.append(f'"{where}", not "{asked}"')
    return out

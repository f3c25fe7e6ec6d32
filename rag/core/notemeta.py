"""Per-note metadata for scoped questions: folder, title and Obsidian tags (`#tag` in the text, `tags:` in YAML
front matter, as a list or a string).

Front matter is parsed with yaml.safe_load (plain data only: notes are untrusted text). Inline tags follow
Obsidian's rules: '#' at the start of a line or after whitespace, letters/digits/_/-/'/' only, at least one
character that is not a digit; headings ('# Title'), code blocks, inline code and URLs ('page#anchor') hold none.
"""
from __future__ import annotations

import re

import yaml

from rag.core.types import NoteMeta, clean_folder, clean_tag

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_INLINE_TAG = re.compile(r"(?:(?<=\s)|^)#([\w/\-]*[^\W\d][\w/\-]*)", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SPLIT = re.compile(r"[,\s]+")


def front_matter(text: str) -> dict:
    """The YAML front matter as a dict ({} when absent or not a mapping; malformed YAML is ignored)."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _listed(value) -> list[str]:
    """A front-matter tags value: a list, or a string of tags separated by commas or spaces."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    return [t for t in _SPLIT.split(str(value)) if t]


def inline_tags(text: str) -> list[str]:
    """`#tag`s of the body, outside front matter, code blocks and inline code."""
    body = _FRONT_MATTER.sub("", text, count=1)
    body = _INLINE_CODE.sub(" ", _FENCE.sub(" ", body))
    return _INLINE_TAG.findall(body)


def note_meta(source: str, text: str, opening_heading: str | None = None) -> NoteMeta:
    """Folder (relative to the notes root), title (front matter, first markdown heading, else the heading the note
    opens under as ingest reads its structure (`opening_heading`: "Autoencoders" over a text export), else the file
    name) and tags."""
    meta = front_matter(text)
    raw = _listed(meta.get("tags")) + _listed(meta.get("tag")) + inline_tags(text)
    tags = tuple(dict.fromkeys(t for t in map(clean_tag, raw) if t and not t.isdigit()))
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        heading = _HEADING.search(_FENCE.sub(" ", _FRONT_MATTER.sub("", text, count=1)))
        title = heading.group(1) if heading else opening_heading or source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    folder = clean_folder(source.rsplit("/", 1)[0] if "/" in source else "")
    return NoteMeta(source=source, folder=folder, title=title.strip()[:300], tags=tags)

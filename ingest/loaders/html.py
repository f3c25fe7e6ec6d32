"""HTML pages: visible text only, with headings as markdown '#' lines and <pre> as fenced code.

The walk over the parsed tree is iterative: a page nested thousands of levels deep loads like any other.
"""
from __future__ import annotations

import re

DROPPED_TAGS = ("script", "style", "nav", "header", "footer", "noscript", "template", "svg",
                "iframe", "form", "button")
_BLOCK = {"p", "div", "section", "article", "main", "aside", "blockquote", "ul", "ol", "li",
          "table", "tr", "dl", "dt", "dd", "figure", "figcaption", "br", "hr", "body", "tbody", "thead"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_PARAGRAPH = {"p", "div", "section", "article", "table", "blockquote"}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_EMIT, _NODE = 0, 1


def _around(name: str) -> tuple[str, str]:
    """Text written before and after an element's children."""
    if name == "li":
        return "\n- ", "\n"
    if name in ("td", "th"):
        return " ", " "
    if name in _PARAGRAPH:
        return "\n\n", "\n\n"
    if name in _BLOCK:
        return "\n", "\n"
    return "", ""


def _walk(root) -> list[str]:
    """Text pieces of root's children in document order; an explicit stack, so any nesting depth works."""
    from bs4 import NavigableString, Tag
    from bs4.element import Comment, Doctype, ProcessingInstruction

    out: list[str] = []
    stack = [(_NODE, child) for child in reversed(list(root.children))]
    while stack:
        kind, item = stack.pop()
        if kind == _EMIT:
            out.append(item)
        elif isinstance(item, (Comment, Doctype, ProcessingInstruction)):
            continue
        elif isinstance(item, NavigableString):
            out.append(_SPACES.sub(" ", str(item).replace("\n", " ")))
        elif isinstance(item, Tag):
            name = item.name.lower()
            if name in _HEADINGS:
                title = _SPACES.sub(" ", item.get_text(" ")).strip()
                if title:
                    out.append(f"\n\n{'#' * _HEADINGS[name]} {title}\n\n")
            elif name == "pre":
                code = item.get_text().strip("\n")
                if code.strip():
                    out.append(f"\n\n```\n{code}\n```\n\n")
            else:
                before, after = _around(name)
                stack.append((_EMIT, after))
                stack.extend((_NODE, child) for child in reversed(list(item.children)))
                stack.append((_EMIT, before))
    return out


def html_text(raw: str) -> str:
    """Text of the page without scripts, styles, navigation, headers and footers."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup.find_all(DROPPED_TAGS):
        tag.decompose()
    root = soup.body or soup
    title = soup.title.get_text(" ").strip() if soup.title and not soup.find(["h1"]) else ""
    if soup.head:
        soup.head.decompose()
    out: list[str] = [f"# {title}\n\n"] if title else []
    out += _walk(root)
    lines, in_code = [], False
    for line in "".join(out).split("\n"):
        if line.strip() == "```":
            in_code = not in_code
        lines.append(line.rstrip() if in_code else line.strip())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

"""HTML pages: visible text only, with headings as markdown '#' lines and <pre> as fenced code."""
from __future__ import annotations

import re

DROPPED_TAGS = ("script", "style", "nav", "header", "footer", "noscript", "template", "svg",
                "iframe", "form", "button")
_BLOCK = {"p", "div", "section", "article", "main", "aside", "blockquote", "ul", "ol", "li",
          "table", "tr", "dl", "dt", "dd", "figure", "figcaption", "br", "hr", "body", "tbody", "thead"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def _walk(node, out: list[str]) -> None:
    """Append text pieces; block elements start new lines."""
    from bs4 import NavigableString, Tag
    from bs4.element import Comment, Doctype, ProcessingInstruction

    for child in node.children:
        if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(child, NavigableString):
            out.append(_SPACES.sub(" ", str(child).replace("\n", " ")))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in _HEADINGS:
            title = _SPACES.sub(" ", child.get_text(" ")).strip()
            if title:
                out.append(f"\n\n{'#' * _HEADINGS[name]} {title}\n\n")
        elif name == "pre":
            code = child.get_text().strip("\n")
            if code.strip():
                out.append(f"\n\n```\n{code}\n```\n\n")
        elif name == "li":
            out.append("\n- ")
            _walk(child, out)
            out.append("\n")
        elif name in ("td", "th"):
            out.append(" ")
            _walk(child, out)
            out.append(" ")
        elif name in _BLOCK:
            out.append("\n\n" if name in ("p", "div", "section", "article", "table", "blockquote") else "\n")
            _walk(child, out)
            out.append("\n\n" if name in ("p", "div", "section", "article", "table", "blockquote") else "\n")
        else:
            _walk(child, out)


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
    _walk(root, out)
    lines, in_code = [], False
    for line in "".join(out).split("\n"):
        if line.strip() == "```":
            in_code = not in_code
        lines.append(line.rstrip() if in_code else line.strip())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

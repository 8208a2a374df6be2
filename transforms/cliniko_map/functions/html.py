"""HTML reduced to what a Pipedrive note should hold.

Cliniko's paragraph answers are basic HTML, and imported legacy notes can carry anything
(`<script>`, `onerror=`, `javascript:` links). Pipedrive sanitises note HTML too, but a
migration must not depend on that: this keeps an allowlist of formatting tags, drops
every attribute except safe `href`s, drops script/style content entirely, unwraps any
other tag (its text stays) and escapes all text, so the output is well-formed and inert.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

ALLOWED = frozenset({"p", "div", "br", "ul", "ol", "li", "blockquote", "b", "strong", "i", "em", "u", "a"})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
DROP_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math",
                          "head", "title"})
VOID = frozenset({"br"})
SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_CONTENT:
            self.dropping += 1
            return
        if self.dropping:
            return
        if tag in HEADINGS:
            self.out.append("<p><b>")
            self.stack.append(tag)
        elif tag in VOID:
            self.out.append("<br>")
        elif tag in ALLOWED:
            if tag in ("li", "p") and self.stack and self.stack[-1] == tag:  # <li>a<li>b: the first one ends
                self._close(self.stack.pop())
            href = next((v for k, v in attrs if k == "href" and v), None) if tag == "a" else None
            if href and href.strip().lower().startswith(SAFE_SCHEMES):
                self.out.append(f'<a href="{html.escape(href.strip(), quote=True)}">')
            else:
                self.out.append(f"<{tag}>")
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_CONTENT:
            return
        if tag in VOID and not self.dropping:
            self.out.append("<br>")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROP_CONTENT:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in self.stack:
            return
        while self.stack:
            top = self.stack.pop()
            self._close(top)
            if top == tag:
                break

    def _close(self, tag: str) -> None:
        self.out.append("</b></p>" if tag in HEADINGS else f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        while self.stack:
            self._close(self.stack.pop())
        return "".join(self.out)


def sanitize_html(value: str | None) -> str:
    """Untrusted HTML -> allowlisted, balanced, inert HTML ('' for None)."""
    if not value:
        return ""
    parser = _Sanitizer()
    parser.feed(str(value))
    parser.close()
    return parser.result().strip()


def text_html(value: object) -> str:
    """Plain text -> HTML text: escaped, line breaks kept as <br>."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)  # html.escape(quote=False), without its call
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r\n", "\n").replace("\n", "<br>"))

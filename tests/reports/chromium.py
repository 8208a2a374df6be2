"""Open a local HTML file in headless Chromium (Debian's package) and read back what the browser made of it.

The report pages must be judged by a real browser, not by a Python parser's idea of HTML: the
DOM Chromium serialises after loading (scripts and timers included) shows whether a value became
markup, and its console shows every action the page's Content-Security-Policy blocked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
MISSING = ("Chromium is not installed at {path}: `make test` installs it (`make browser` runs "
           "`apt-get install chromium` as root); install it and run the tests again.")
# Hostile test values run this if they ever execute; it writes an attribute whose name is assembled
# at run time, so the escaped value shown as text never contains the attribute name itself.
SCRIPT_MARK_ATTR = "data-script-ran"
SCRIPT_MARK_JS = "document.documentElement.setAttribute('data-script-'+'ran','1')"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--disable-breakpad",
         "--virtual-time-budget=2000",  # let timers a script may have set fire before the DOM is read
         "--enable-logging=stderr", "--v=0")
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)")
# Elements and attributes through which a page runs code or loads something.
# A plain link (`<a href="https://...">`) only navigates when clicked - the audit links each record to its page
# in Pipedrive - so it is allowed; any other href, or an `a` that is not a plain web link, is not.
ACTIVE_TAGS = frozenset({"script", "iframe", "frame", "object", "embed", "img", "image", "link", "base", "form",
                         "input", "button", "textarea", "audio", "video", "source", "foreignobject", "use"})


class ChromiumMissing(RuntimeError):
    """Chromium is not where Debian's package puts it."""


def missing_message(path: Path | None = None) -> str | None:
    """Why Chromium cannot be used, or None when it can."""
    path = path or CHROMIUM
    return None if path.is_file() and os.access(path, os.X_OK) else MISSING.format(path=path)


def require_chromium() -> None:
    """Fail the test when Chromium is missing: `make test` installs it, so a skip would hide a broken setup."""
    if problem := missing_message():
        pytest.fail(problem, pytrace=False)


class _Dom(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.title: list[str] = []
        self.text: list[str] = []
        self._open: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in {"meta", "img", "input", "link", "br", "hr", "base", "source"}:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "title" in self._open and "svg" not in self._open:
            self.title.append(data)
        elif "body" in self._open and not {"script", "style"} & set(self._open):
            self.text.append(data)


@dataclass(frozen=True)
class Rendered:
    """What Chromium made of a page once loaded."""

    dom: str  # the serialised DOM
    title: str  # document.title as the page ended up
    text: str  # the body's text nodes, entities decoded (script and style contents excluded)
    elements: tuple[tuple[str, dict[str, str]], ...]  # every element and its attributes, in document order
    console: tuple[str, ...]  # console messages, including every action the CSP blocked

    @property
    def script_ran(self) -> bool:
        """Did a hostile value's script (SCRIPT_MARK_JS) execute?"""
        return any(SCRIPT_MARK_ATTR in attrs for _, attrs in self.elements)

    @property
    def active_content(self) -> list[str]:
        """Elements and attributes that could run code or load something; an inert page has none."""
        found = [tag for tag, _ in self.elements if tag in ACTIVE_TAGS]
        for tag, attrs in self.elements:
            found += [f"{tag}[{name}]" for name, value in attrs.items()
                      if name.startswith("on") or "javascript:" in value.lower() or name in {"src", "srcdoc"}
                      or (name == "href" and not (tag == "a" and value.startswith(("https://", "http://"))))]
        return found

    @property
    def links(self) -> list[str]:
        return [attrs.get("href", "") for tag, attrs in self.elements if tag == "a"]


WIDTH_ATTR = "data-layout-width"


def layout_width(path: Path, viewport: int = 1280, tmp: Path | None = None) -> int:
    """How wide the page lays out in a `viewport`-pixel window (its scrollWidth): wider means a sideways scroll.

    The page forbids scripts (its CSP), so a copy without that meta and with one measuring script is
    opened; the page itself is never changed.
    """
    markup = Path(path).read_text(encoding="utf-8")
    markup = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", markup)
    probe = (f"<script>document.documentElement.setAttribute('{WIDTH_ATTR}', "
             "String(document.documentElement.scrollWidth))</script>")
    copy = Path(tmp or tempfile.mkdtemp(prefix="width-")) / f"width-{Path(path).name}"
    copy.write_text(markup.replace("</body>", probe + "</body>"), encoding="utf-8")
    shown = open_page(copy, window=f"{viewport},900")
    found = re.search(rf'{WIDTH_ATTR}="(\d+)"', shown.dom)
    assert found, "the width probe did not run"
    return int(found.group(1))


def open_page(path: Path, *, timeout: float = 30, chromium: Path | None = None, window: str | None = None) -> Rendered:
    """Load `path` in a fresh headless Chromium profile and return the rendered DOM.

    A page that never finishes (say, a script opened an alert dialog) is an error, not a hang.
    """
    chromium = chromium or CHROMIUM
    if problem := missing_message(chromium):
        raise ChromiumMissing(problem)
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-", ignore_cleanup_errors=True) as profile:
        size = [f"--window-size={window}"] if window else []
        proc = subprocess.Popen([str(chromium), *FLAGS, *size, f"--user-data-dir={profile}", "--dump-dom", url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # its own process group, so a hung browser dies whole
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TimeoutError(f"Chromium did not finish loading {url} within {timeout:g} s "
                               "(a script may have opened a dialog).") from None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # helpers (zygote, GPU) must not outlive the test
            except ProcessLookupError:
                pass
    if proc.returncode != 0 or not out.strip():
        raise RuntimeError(f"Chromium failed on {url} (exit {proc.returncode}): "
                           f"{err.decode('utf-8', 'replace')[-2000:]}")
    dom = out.decode("utf-8")
    parsed = _Dom(dom)
    console = tuple(m.group(1) for m in _CONSOLE.finditer(err.decode("utf-8", "replace")))
    return Rendered(dom=dom, title="".join(parsed.title), text="".join(parsed.text),
                    elements=tuple(parsed.elements), console=console)

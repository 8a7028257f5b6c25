"""Look at the built site in a real browser (headless Debian Chromium driven by Playwright).

Usage (from the repository root; ``tests/test_book.py`` runs it on the quick-profile site it builds):

    python tools/book.py browse _build/quick/site/_build/html

For every page of ``_toc.yml``, served from a local HTTP server on 127.0.0.1: no console errors and no
uncaught exceptions, every ``<img>`` loaded (``naturalWidth > 0``) with a non-empty ``alt`` that is not
its file name, math typeset by MathJax (``mjx-container`` present where the page has math), every
solution dropdown opens on click, and a full-page screenshot is saved to ``<build>/screenshots/``.

Chromium is Debian's (``apt-get install chromium``; ``.ci/run`` installs it); Playwright's own browser
download is never used. Where Chromium or Playwright is absent, :func:`browser_unavailable` says why and
the test skips. Resources outside the local server (MathJax comes from a CDN) are not required: when
the machine is offline they fail to load, which is reported as a note, and the math check is skipped
for that page with a clear message rather than failed.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    """Debian's Chromium (or ``$NTK_BOOK_CHROMIUM``), if installed."""
    candidate = os.environ.get("NTK_BOOK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if Path(candidate).exists() else None


def browser_unavailable() -> str | None:
    """Why the browser check cannot run here, or ``None`` when it can."""
    if chromium_path() is None:
        return ("Debian's chromium is not installed (.ci/run installs it: apt-get install -y chromium); "
                "the real-browser check of the site was skipped")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (requirements.txt); the browser check was skipped"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log in the test output
        pass


def serve(html: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``html`` on 127.0.0.1 (a free port) in a background thread; returns the server and its base URL."""
    handler = functools.partial(_Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


_PAGE_FACTS = """() => {
  const images = [...document.querySelectorAll('img')].map(img => ({
      src: img.getAttribute('src'), alt: (img.getAttribute('alt') || '').trim(),
      loaded: img.complete && img.naturalWidth > 0, visible: img.offsetParent !== null}));
  const math = document.querySelectorAll('.math, span.math, div.math').length;
  const typeset = document.querySelectorAll('mjx-container').length;
  const mathjax = typeof window.MathJax === 'object' && !!window.MathJax.startup;
  const dropdowns = document.querySelectorAll('.admonition.dropdown, details.sd-dropdown').length;
  const overflow = document.documentElement.scrollWidth > window.innerWidth + 1;
  return {images, math, typeset, mathjax, dropdowns, overflow};
}"""

_OPEN_DROPDOWNS = """async () => {
  const failures = [];
  const boxes = [...document.querySelectorAll('.admonition.dropdown')];
  for (const [i, box] of boxes.entries()) {
    const button = box.querySelector('button.toggle-button') || box.querySelector('.admonition-title');
    const body = [...box.children].find(child => !child.classList.contains('admonition-title')
                                                  && child.tagName !== 'BUTTON');
    if (!button || !body) { failures.push(`dropdown ${i + 1}: no title or body`); continue; }
    button.click();
    await new Promise(resolve => setTimeout(resolve, 400));
    if (!(body.offsetHeight > 0) || box.classList.contains('toggle-hidden')) {
      failures.push(`dropdown ${i + 1} (${button.textContent.trim().slice(0, 40)}) did not open on click`);
    }
  }
  for (const [i, details] of [...document.querySelectorAll('details.sd-dropdown')].entries()) {
    details.querySelector('summary').click();
    await new Promise(resolve => setTimeout(resolve, 200));
    if (!details.open) failures.push(`dropdown ${i + 1} (details) did not open on click`);
  }
  return {opened: boxes.length, failures};
}"""


def check_pages(html: Path, pages: list[str], screenshots: Path) -> tuple[list[str], list[str]]:
    """Open ``pages`` (paths relative to ``html``) in Chromium; returns ``(problems, notes)``."""
    from playwright.sync_api import sync_playwright

    screenshots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    notes: list[str] = []
    server, base = serve(html)
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for name in pages:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                offline: list[str] = []
                page.on("console", lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None)
                page.on("pageerror", lambda exc, errors=errors: errors.append(f"uncaught: {exc}"))
                page.on("requestfailed", lambda req, offline=offline, errors=errors: offline.append(req.url)
                        if not req.url.startswith(base) else errors.append(f"failed to load {req.url}"))
                page.on("response", lambda resp, errors=errors: errors.append(f"HTTP {resp.status} for {resp.url}")
                        if resp.status >= 400 and resp.url.startswith(base) and not resp.url.endswith("/favicon.ico")
                        else None)
                page.goto(base + name, wait_until="load", timeout=60_000)
                try:
                    page.wait_for_load_state("networkidle", timeout=15_000)
                except Exception:  # noqa: BLE001 (a page that keeps polling still gets checked)
                    pass
                facts = page.evaluate(_PAGE_FACTS)
                if facts["mathjax"]:
                    page.evaluate("() => window.MathJax.startup.promise")
                    facts = page.evaluate(_PAGE_FACTS)
                shot = screenshots / (name.replace("/", "__").removesuffix(".html") + ".png")
                page.screenshot(path=str(shot), full_page=True)
                dropdowns = page.evaluate(_OPEN_DROPDOWNS)
                page.close()
                # console errors about resources that could not be fetched from outside (offline) are notes
                # (a missing resource is reported with its URL by the response listener; the browser's own
                # request for /favicon.ico, which the site does not have, is not a problem of the page)
                real = [e for e in errors if not (offline and "net::ERR" in e)
                        and not e.startswith("Failed to load resource: the server responded with a status of")]
                problems += [f"{name}: console error: {e[:300]}" for e in real]
                for image in facts["images"]:
                    if not image["loaded"]:
                        if image["src"] in offline:  # an external image (e.g. the Colab badge) on an offline machine
                            notes.append(f"{name}: external image {image['src']} unreachable (offline)")
                        else:
                            problems.append(f"{name}: image {image['src']} did not load")
                    if not image["alt"] or image["alt"] == image["src"] or image["alt"].endswith(
                            (".png", ".svg", ".jpg")):
                        problems.append(f"{name}: image {image['src']} has no alt text (alt={image['alt']!r})")
                if facts["math"]:
                    if facts["typeset"]:
                        pass
                    elif offline and not facts["mathjax"]:
                        notes.append(f"{name}: math not checked — MathJax could not be fetched from "
                                     f"{offline[0].split('/npm/')[0]} (offline)")
                    else:
                        problems.append(f"{name}: {facts['math']} math elements but nothing typeset by MathJax")
                problems += [f"{name}: {failure}" for failure in dropdowns["failures"]]
                if facts["overflow"]:
                    problems.append(f"{name}: the page is wider than the window (content runs off the right edge)")
                notes.append(f"{name}: {len(facts['images'])} images, {facts['typeset']} typeset formulas, "
                             f"{dropdowns['opened']} dropdowns opened; screenshot {shot.name}")
                if offline:
                    notes.append(f"{name}: {len(offline)} external resource(s) unreachable, e.g. {offline[0]}")
            browser.close()
    finally:
        server.shutdown()
    return problems, notes


def check_site_in_browser(site: Path, html: Path) -> list[str]:
    """Check every toc page of the site at ``html`` in Chromium; raise ``SystemExit`` listing the problems."""
    from tools.book import toc_files

    why = browser_unavailable()
    if why:
        raise RuntimeError(why)
    pages = [f"{name}.html" for name in toc_files(site / "_toc.yml")]
    screenshots = site.parent / "screenshots"
    problems, notes = check_pages(html, pages, screenshots)
    for note in notes:
        print(f"[browser] {note}", flush=True)
    if problems:
        raise SystemExit("[browser] FAILED:\n  " + "\n  ".join(problems))
    print(f"[browser] passed: {len(pages)} pages in Chromium; screenshots in {screenshots}", flush=True)
    return notes

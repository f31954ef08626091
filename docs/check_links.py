"""Check every local link and image of the built HTML: the file exists, and a #fragment names an id in it.

    python docs/check_links.py docs/_build/html

External links (http, https, mailto, ...) are not followed (the build has no network). Exit code 1 with one line
per broken reference, 0 when all resolve. `make docs` runs it after `sphinx-build -W`.
"""
from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") in ("canonical",)):
                self.refs.append(attrs[key])


def parse(path: Path) -> _Refs:
    refs = _Refs()
    refs.feed(path.read_text(encoding="utf-8", errors="replace"))
    return refs


def check(root: Path) -> list[str]:
    # the site's pages; _static/ holds the theme's template fragments, _sources/ the page sources
    pages = sorted(p for p in root.rglob("*.html") if p.relative_to(root).parts[0] not in ("_static", "_sources"))
    parsed = {p.resolve(): parse(p) for p in pages}
    broken = []
    for page, refs in parsed.items():
        for ref in refs.refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith("//") or ref.startswith("data:"):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(root.resolve())}: {ref} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(root.resolve())}: {ref} (no id {parts.fragment!r})")
    return broken


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "docs/_build/html")
    if not (root / "index.html").exists():
        print(f"check_links: {root}/index.html not found: build the site first (make docs)", file=sys.stderr)
        return 2
    broken = check(root)
    for line in broken:
        print(f"check_links: broken: {line}")
    pages = sum(1 for p in root.rglob("*.html") if p.relative_to(root).parts[0] not in ("_static", "_sources"))
    print(f"check_links: {pages} pages, {'all local links and images resolve' if not broken else f'{len(broken)} broken'}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Helpers of the documentation's record tables: a JSON record under docs/, a plain-text docutils table, the note
naming the records a table was made from."""
from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError

DOCS = Path(__file__).resolve().parents[1]


def _records(relpath: str):
    path = DOCS / relpath
    if not path.exists():
        raise ExtensionError(f"fem_docs: record {path} not found")
    return json.loads(path.read_text())


def _table(header: list[str], rows: list[list[str]], caption: str | None = None) -> nodes.table:
    """A docutils table of plain-text cells."""
    table = nodes.table(classes=["fem-records"])
    if caption:
        table += nodes.title(text=caption)
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)

    def row(cells):
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=str(cell))
            r += entry
        return r

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    return table


def _source_note(paths: list[str]) -> nodes.paragraph:
    para = nodes.paragraph(classes=["fem-records-source"])
    para += nodes.emphasis(text="Made at build time from " + ", ".join(f"docs/{p}" for p in paths) + ".")
    return para

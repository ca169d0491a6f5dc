"""Puts each line of highlighted code in its own ``<span class="code-line">``.

``docs/_static/dreamer.css`` wraps code lines that are wider than the column.
A wrapped line must not look like the next line of code (in Python, like a
wrongly indented one), and CSS can only mark the continuation of a line it can
address: with one span per source line, which also gives the line's
indentation as ``--indent``, the stylesheet hangs the continuation 4
characters further in than the line itself and marks it with an arrow.
Copying the code copies neither.
"""

from __future__ import annotations

import re

from pygments.formatters import HtmlFormatter

CODE_LINE_CLASS = "code-line"


def _indentation(html_line: str) -> int:
    """The number of spaces a line of highlighted HTML starts with."""
    text = re.sub(r"<[^>]*>", "", html_line)
    return len(text) - len(text.lstrip(" "))


class CodeLineFormatter(HtmlFormatter):
    """Pygments' HTML formatter with one ``span.code-line`` per source line."""

    def wrap(self, source):
        return super().wrap(
            (kind, self._code_line(text) if kind else text) for kind, text in source
        )

    @staticmethod
    def _code_line(html_line: str) -> str:
        indent = _indentation(html_line)
        style = f' style="--indent: {indent}ch"' if indent else ""
        return f'<span class="{CODE_LINE_CLASS}"{style}>{html_line}</span>'


def _use_code_line_formatter(app) -> None:
    if app.builder.format != "html":
        return
    for name in ("highlighter", "dark_highlighter"):
        highlighter = getattr(app.builder, name, None)
        if highlighter is not None:
            highlighter.formatter = CodeLineFormatter


def setup(app) -> dict:
    app.connect("builder-inited", _use_code_line_formatter)
    return {"version": "1.0", "parallel_read_safe": True}

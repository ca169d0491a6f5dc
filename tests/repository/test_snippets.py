"""Every Python snippet in README.md and the docs runs as shown, and quietly."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest
from support.quiet_stderr import assert_quiet_stderr

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
RST_DIRECTIVE = ".. code-block:: python"
# The slowest snippet builds a paper-size agent (about 10 s); this only stops a hang.
SNIPPET_TIMEOUT_S = 300


def markdown_snippets(path: pathlib.Path) -> list[str]:
    """The bodies of the ```python fences of a Markdown file."""
    snippets, body = [], None
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if body is None and line.strip() == "```python":
            body = []
        elif body is not None and line.strip() == "```":
            snippets.append("".join(body))
            body = None
        elif body is not None:
            body.append(line)
    return snippets


def rst_snippets(path: pathlib.Path) -> list[str]:
    """The dedented bodies of the ``.. code-block:: python`` directives of a file."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    snippets = []
    for index, line in enumerate(lines):
        if line.strip() != RST_DIRECTIVE:
            continue
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and not following.startswith(" "):
                break
            body.append(following)
        code = [line for line in body if not line.strip().startswith(":")]
        snippets.append(textwrap.dedent("".join(code)).strip() + "\n")
    return snippets


def all_snippets() -> list[tuple[str, str]]:
    """``(name, code)`` of every Python snippet, named by file and position."""
    sources = [(REPOSITORY / "README.md", markdown_snippets)]
    sources += [
        (path, rst_snippets) for path in sorted(REPOSITORY.glob("docs/**/*.rst"))
    ]
    snippets = []
    for path, extract in sources:
        for number, code in enumerate(extract(path), 1):
            snippets.append((f"{path.relative_to(REPOSITORY)}:{number}", code))
    return snippets


SNIPPETS = all_snippets()


def test_readme_and_quickstart_have_snippets():
    names = [name for name, _ in SNIPPETS]
    assert any(name.startswith("README.md") for name in names), names
    assert any(name.startswith("docs/quickstart.rst") for name in names), names


def test_rst_extraction_stops_at_the_end_of_the_block(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(
        f"Text.\n\n{RST_DIRECTIVE}\n   :caption: x\n\n   a = 1\n\n   b = a\n\nAfter.\n"
    )
    assert rst_snippets(page) == ["a = 1\n\nb = a\n"]


@pytest.mark.parametrize("name, code", SNIPPETS, ids=[name for name, _ in SNIPPETS])
def test_snippet_runs_quietly(name, code, tmp_path):
    environment = {
        key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SNIPPET_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stderr[-3000:]}"
    assert_quiet_stderr(result.stderr)
    assert list(tmp_path.iterdir()) == [], f"{name} left files behind"

"""The documentation: it builds without warnings, covers the API, and its code runs."""

import dataclasses
import glob
import html
import os
import pathlib
import re
import subprocess
import sys
import zlib

import pytest

import dreamer_tf
from dreamer_tf.config import DreamerConfig

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
DOCS = REPOSITORY / "docs"
TUTORIALS = sorted(glob.glob(str(REPOSITORY / "examples" / "tutorial_*.py")))
# Each tutorial is meant to take well under 30 s; this only stops a hang.
TUTORIAL_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def built_docs(tmp_path_factory) -> pathlib.Path:
    """Builds the HTML docs once per session with warnings as errors."""
    pytest.importorskip("sphinx", reason="the docs need Sphinx: pip install '.[docs]'")
    output = tmp_path_factory.mktemp("docs_html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q"]
        + ["-b", "html", str(DOCS), str(output)],
        check=False,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"sphinx-build -W failed (exit {result.returncode}):\n{result.stderr[-6000:]}"
    )
    return output


def read_inventory(path: pathlib.Path) -> dict[str, str]:
    """Reads a Sphinx ``objects.inv`` (version 2): object name to page URI."""
    with open(path, "rb") as file:
        header = [file.readline() for _ in range(4)]
        assert header[0].startswith(b"# Sphinx inventory version 2"), header[0]
        body = zlib.decompress(file.read()).decode("utf-8")
    inventory = {}
    for line in body.splitlines():
        match = re.match(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)", line)
        if match and match[2].startswith("py:"):
            inventory[match[1]] = match[4]
    return inventory


def test_every_public_symbol_has_an_api_entry(built_docs):
    inventory = read_inventory(built_docs / "objects.inv")
    assert dreamer_tf.__all__, "dreamer_tf.__all__ is empty"
    missing, outside_api = [], []
    for name in dreamer_tf.__all__:
        qualified = f"{dreamer_tf._PUBLIC_SYMBOLS[name]}.{name}"
        if qualified not in inventory:
            missing.append(qualified)
        elif not inventory[qualified].startswith("api/"):
            outside_api.append(qualified)
    assert not missing, f"public symbols missing from the API reference: {missing}"
    assert not outside_api, f"public symbols documented outside api/: {outside_api}"


def test_every_public_symbol_is_on_its_module_page(built_docs):
    for name in dreamer_tf.__all__:
        module = dreamer_tf._PUBLIC_SYMBOLS[name]
        page = module.removeprefix("dreamer_tf.")
        html = (built_docs / "api" / f"{page}.html").read_text(encoding="utf-8")
        assert f'id="{module}.{name}"' in html, f"{module}.{name} not on {page}.html"


def test_pages_load_nothing_from_the_network(built_docs):
    pages = sorted(built_docs.rglob("*.html"))
    assert pages
    for page in pages:
        html_text = page.read_text(encoding="utf-8")
        remote = re.findall(
            r'(?:src|href)="(?:https?:)?//[^"]+\.(?:js|css)[^"]*"', html_text
        )
        assert not remote, f"{page.name} loads {remote}"
    concepts = (built_docs / "concepts.html").read_text(encoding="utf-8")
    assert 'src="_static/mathjax/tex-chtml.js"' in concepts
    assert (built_docs / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert 'href="_static/dreamer.css' in concepts


def page_text(path: pathlib.Path) -> str:
    """The visible text of an HTML page, with plain quotes and single spaces."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))
    for curly, plain in (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"')):
        text = text.replace(curly, plain)
    return " ".join(text.replace("\u201d", '"').split())


def test_configuration_reference_lists_every_field(built_docs):
    text = page_text(built_docs / "configuration.html")
    for field in dataclasses.fields(DreamerConfig):
        assert f"--{field.name} " in text, f"--{field.name} missing"
        help_text = " ".join(field.metadata["help"].split())
        assert help_text in text, f"help of {field.name} missing: {help_text!r}"
    for flagfile in (REPOSITORY / "examples" / "configs").glob("*.flags"):
        assert f"examples/configs/{flagfile.name}" in text, flagfile.name


def readme_commands() -> list[str]:
    """The commands under README.md's markers, extracted as ``.ci/run`` does."""
    lines = (REPOSITORY / "README.md").read_text(encoding="utf-8").splitlines()
    commands = []
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        start = lines.index(marker)
        fence = next(i for i in range(start, len(lines)) if lines[i] == "```bash")
        commands.append(lines[fence + 1])
    return commands


def test_installation_page_shows_the_readme_commands_verbatim():
    installation = (DOCS / "installation.rst").read_text(encoding="utf-8")
    for command in readme_commands():
        assert f"   {command}\n" in installation, f"not in installation.rst: {command}"


def test_tutorials_exist_and_are_in_the_docs():
    assert TUTORIALS, "no examples/tutorial_*.py found"
    pages = "".join(
        path.read_text(encoding="utf-8") for path in (DOCS / "tutorials").glob("*.rst")
    )
    for script in TUTORIALS:
        name = pathlib.Path(script).name
        assert f".. literalinclude:: ../../examples/{name}" in pages, name


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda path: pathlib.Path(path).stem)
def test_tutorial_runs_with_default_arguments(script, tmp_path):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, script],
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TUTORIAL_TIMEOUT_S,
    )
    assert result.returncode == 0, (
        f"{script} exited with {result.returncode}:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    assert list(tmp_path.iterdir()) == [], "tutorials must leave no files behind"

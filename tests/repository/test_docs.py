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
from support.quiet_stderr import assert_quiet_stderr

import dreamer_tf
from dreamer_tf.config import DreamerConfig
from dreamer_tf.presets import PRESET_DIR, preset_names

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


def test_call_args_render_as_a_field_list(built_docs):
    layers = (built_docs / "api" / "layers.html").read_text(encoding="utf-8")
    fields = re.findall(
        r'<dt class="field-[a-z]+">Call args<span class="colon">', layers
    )
    assert fields, "no 'Call args' field on api/layers.html"
    assert "<dt>Call args:</dt>" not in layers, "'Call args:' is a run-on paragraph"
    rssm_call_args = layers.split('id="dreamer_tf.layers.RSSMCell"')[1].split(
        "Call args", 1
    )[1]
    list_items = rssm_call_args.split("</ul>", 1)[0]
    for name in ("state", "action", "embed"):
        assert f"<li><p><strong>{name}</strong>" in list_items, name


def bases(page: pathlib.Path) -> list[str]:
    """The HTML of each "Bases:" line of an API page."""
    return re.findall(r"Bases: (.*?)</p>", page.read_text(encoding="utf-8"))


def test_base_classes_link_by_their_public_names(built_docs):
    layers = bases(built_docs / "api" / "layers.html")
    keras_layer = (
        '<a class="reference external" href="https://keras.io/api/layers/base_layer/"'
    )
    assert any(
        line.startswith(keras_layer) and "keras.layers.Layer</span>" in line
        for line in layers
    ), layers
    assert any('href="#dreamer_tf.layers.DenseHead"' in line for line in layers)
    unlinked = []
    for page in sorted((built_docs / "api").glob("*.html")):
        for line in bases(page):
            links = re.findall(r'<a class="reference (?:internal|external)"', line)
            if len(links) != line.count("</code>") or ".src." in line:
                unlinked.append(f"{page.name}: {re.sub(r'<[^>]+>', '', line)}")
    assert not unlinked, f"base classes not linked by a public name: {unlinked}"


def code_lines(page: pathlib.Path) -> list[list[tuple[int, str]]]:
    """Each highlighted block of a page: its lines' ``(--indent, text)``."""
    blocks = re.findall(
        r'<div class="highlight"><pre>(.*?)</pre>',
        page.read_text(encoding="utf-8"),
        re.S,
    )
    return [
        [
            (int(indent or 0), html.unescape(re.sub(r"<[^>]+>", "", line)))
            for indent, line in re.findall(
                r'<span class="code-line"(?: style="--indent: (\d+)ch")?>(.*?)'
                r'(?=<span class="code-line"|\Z)',
                block,
                re.S,
            )
        ]
        for block in blocks
    ]


def test_each_code_line_is_a_span_that_the_css_marks_when_wrapped(built_docs):
    installation = code_lines(built_docs / "installation.html")
    # One long line is one span, however many rows it wraps into.
    assert any(
        len(block) == 1 and block[0][1].startswith("python3 -m venv")
        for block in installation
    ), installation
    tutorial = [
        line
        for block in code_lines(built_docs / "tutorials" / "custom_env.html")
        for line in block
    ]
    assert len(tutorial) > 50, "the tutorial's code is not in code-line spans"
    for indent, text in tutorial:
        assert indent == len(text) - len(text.lstrip(" ")), (indent, text)
    assert any(indent == 8 for indent, _ in tutorial)

    rules = css_rules(built_docs / "_static" / "dreamer.css")
    code, line = rules["div.highlight pre"], rules["div.highlight span.code-line"]
    marker = rules["div.highlight span.code-line::before"]
    assert code["white-space"] == "pre-wrap"
    # A wrapped line's rows after the first hang 4 characters further in than
    # the line, behind the arrows...
    assert line["--hang"] == "calc(var(--indent, 0ch) + 4ch)"
    assert line["padding-left"] == "var(--hang)"
    assert line["text-indent"] == "calc(-1 * var(--hang))"
    assert marker["content"].startswith('"\\21AA') and marker["user-select"] == "none"
    # ...which start one row down: a line that fits shows none.
    assert marker["top"] == code["line-height"], (marker["top"], code["line-height"])


def css_rules(path: pathlib.Path) -> dict[str, dict[str, str]]:
    """A stylesheet's rules: selector to ``{property: value}``."""
    css = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)
    rules = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        declarations = dict(
            [part.strip() for part in declaration.split(":", 1)]
            for declaration in body.split(";")
            if declaration.strip()
        )
        for selector in selectors.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)
    return rules


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
    assert preset_names(), "no presets found"
    for name in preset_names():
        assert f"--preset={name} " in text, f"preset {name} missing"
        path = (PRESET_DIR / f"{name}.flags").relative_to(REPOSITORY).as_posix()
        assert path in text, f"{path} missing"


def test_configuration_source_says_where_its_tables_are():
    source = (DOCS / "configuration.rst").read_text(encoding="utf-8")
    before_the_tables = source[: source.index(".. dreamer-config-table::")]
    for where in ("docs/_build/html/configuration.html", "dreamer_tf/config.py"):
        assert where in before_the_tables, f"configuration.rst does not name {where}"


def test_installation_says_how_to_build_and_open_the_docs():
    installation = (DOCS / "installation.rst").read_text(encoding="utf-8")
    assert (
        "   .venv/bin/python -m sphinx -b html docs docs/_build/html\n" in installation
    )
    assert "``docs/_build/html/index.html``" in installation
    assert "pip install -e '.[docs]'" in installation


# Commands the docs showed before ``dreamer-tf``: none may come back.
OLD_COMMANDS = {
    "examples/configs": "--preset=NAME",
    "--flagfile=examples": "--preset=NAME",
    "examples/plot.py --runs": "dreamer-tf plot RUN ...",
    "tensorboard --logdir": "dreamer-tf tensorboard RUN ...",
    "python examples/dmc_train.py": "dreamer-tf train",
    "--eval_only": "dreamer-tf eval",
}


def test_docs_show_the_current_commands():
    pages = sorted(DOCS.rglob("*.rst"))
    assert pages
    stale = [
        f"{page.relative_to(DOCS)}: {old!r} (now {new})"
        for page in pages
        for old, new in OLD_COMMANDS.items()
        if old in page.read_text(encoding="utf-8")
    ]
    assert not stale, "old commands in the docs:\n" + "\n".join(stale)


def documented_modules() -> set[str]:
    """The modules that the pages of docs/api/ document."""
    modules = set()
    for page in (DOCS / "api").glob("*.rst"):
        text = page.read_text(encoding="utf-8")
        modules.update(re.findall(r"^\.\. automodule:: (\S+)$", text, re.MULTILINE))
    return modules


def test_every_module_has_an_api_page():
    documented = documented_modules()
    missing = []
    for path in sorted((REPOSITORY / "dreamer_tf").rglob("*.py")):
        parts = path.relative_to(REPOSITORY).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if len(parts) == 1 or any(part.startswith("_") for part in parts):
            continue
        module = ".".join(parts)
        # A package's page covers its modules; a package of pages needs none.
        ancestors = {".".join(parts[:end]) for end in range(2, len(parts) + 1)}
        if ancestors & documented:
            continue
        if path.name == "__init__.py" and any(
            name.startswith(f"{module}.") for name in documented
        ):
            continue
        missing.append(module)
    assert not missing, f"modules without a page in docs/api/: {missing}"


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
def test_tutorial_runs_with_default_arguments_quietly(script, tmp_path):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "DREAMER_TF_VERBOSE")
    }
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
    assert_quiet_stderr(result.stderr)

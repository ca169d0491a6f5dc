"""The package's layout: imports point downwards, and light modules stay light."""

import ast
import pathlib
import subprocess
import sys

import tensorflow as tf

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "dreamer_tf"

# Each top-level part of the package and its level: a module imports only
# from lower levels or from its own part, never upwards.
LEVELS = {
    "_quiet": 0,
    "errors": 0,
    "spaces": 0,
    "variable_tree": 1,
    "files": 0,
    "config": 0,
    "presets": 0,
    "seeds": 0,
    "allocator": 0,
    "waiting": 1,
    "distributions": 1,
    "envs": 1,
    "replay": 1,
    "plotting": 1,
    "board": 1,
    "layers": 2,
    "learning": 3,
    "acting": 4,
    "agent": 5,
    "agent_v2": 6,
    "architecture": 7,
    "parallel": 8,
    "run": 9,
    "commands": 10,
}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every dreamer_tf module ``path`` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "dreamer_tf."
        ):
            names.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                as_path = PACKAGE.parent / candidate.replace(".", "/")
                if as_path.with_suffix(".py").exists() or as_path.is_dir():
                    names.add(candidate)
        elif isinstance(node, ast.ImportFrom) and node.module == "dreamer_tf":
            names.update(f"dreamer_tf.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                alias.name
                for alias in node.names
                if alias.name.startswith("dreamer_tf.")
            )
    return names


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in PACKAGE.rglob("*.py")}


def part(module: str) -> str:
    return module.split(".")[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``"a imports b"`` for every import of a part at the same or a higher level."""
    return [
        f"{module} imports {imported}"
        for module, imports in graph.items()
        if module != "dreamer_tf"
        for imported in imports
        if part(imported) != part(module)
        and LEVELS[part(imported)] >= LEVELS[part(module)]
    ]


class LayoutTest(tf.test.TestCase):
    def test_every_part_has_a_level(self):
        parts = {part(module) for module in import_graph() if module != "dreamer_tf"}
        self.assertEqual(parts, set(LEVELS))

    def test_imports_point_downwards(self):
        self.assertEqual(upward_imports(import_graph()), [])

    def test_no_import_cycles(self):
        graph = import_graph()
        cycles = []

        def visit(module, path):
            if module in path:
                cycles.append(" -> ".join([*path[path.index(module) :], module]))
                return
            for imported in graph.get(module, ()):
                if imported not in finished:
                    visit(imported, [*path, module])
            finished.add(module)

        finished: set[str] = set()
        for module in sorted(graph):
            visit(module, [])
        self.assertEqual(cycles, [])

    def test_the_tests_mirror_the_package(self):
        tests = PACKAGE.parent / "tests"
        folders = {path.name for path in tests.iterdir() if path.is_dir()}
        folders -= {"__pycache__"}
        subpackages = {
            path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()
        }
        # Besides the package's own folders: shared helpers, end-to-end runs of
        # the program, and checks of the repository (docs, examples, layout).
        self.assertEqual(folders - subpackages, {"support", "program", "repository"})
        self.assertEqual(sorted(tests.glob("support/test_*.py")), [])

    def test_the_agent_imports_no_environments(self):
        self.assertNotIn(
            "envs", {part(name) for name in import_graph()["dreamer_tf.agent"]}
        )

    def test_option_checks_and_env_workers_import_no_tensorflow(self):
        modules = (
            "dreamer_tf.allocator",
            "dreamer_tf.commands",
            "dreamer_tf.run.rundir",
            "dreamer_tf.parallel.options",
            "dreamer_tf.errors",
            "dreamer_tf.envs.worker",
        )
        code = (
            f"import sys; import {', '.join(modules)}; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'ray') "
            "if m in sys.modules))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=PACKAGE.parent,
        )
        self.assertEqual(result.stdout.strip(), "[]")

    def test_an_upward_import_is_found(self):
        # The check itself must be able to fail: a layer importing the agent.
        graph = {
            "dreamer_tf.layers.rssm": {"dreamer_tf.agent", "dreamer_tf.layers.gru"},
            "dreamer_tf.envs.make": {"dreamer_tf.replay"},
        }
        self.assertEqual(
            upward_imports(graph),
            [
                "dreamer_tf.layers.rssm imports dreamer_tf.agent",
                "dreamer_tf.envs.make imports dreamer_tf.replay",
            ],
        )


if __name__ == "__main__":
    tf.test.main()

"""Sphinx directives that generate reference tables from the code at build time.

- ``.. dreamer-config-table::`` lists every field of
  :class:`dreamer_tf.config.DreamerConfig`: its flag, type, default, help text
  (``metadata['help']``) and the paper's value.
- ``.. dreamer-presets::`` lists every preset in ``dreamer_tf/presets/``
  with its leading comment and the flags it sets.
- ``.. dreamer-public-symbols::`` lists ``dreamer_tf.__all__`` with links to
  the API pages.
- ``.. dreamer-tensorboard-tags::`` lists the TensorBoard tags of
  :mod:`dreamer_tf.run.summaries` (scalars, then videos) with the name each has
  in ``metrics.jsonl`` and its description.

Nothing here is written by hand twice: adding a config field, a preset or a
public symbol changes the pages on the next build.
"""

from __future__ import annotations

import dataclasses
import pathlib

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from dreamer_tf.presets import PRESET_DIR, PRESET_SUFFIX

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
ATARI_PRESET = PRESET_DIR / f"atari{PRESET_SUFFIX}"
# The lines of a flags file that include another file first.
INCLUDE_FLAGS = ("preset", "flagfile")

# Where the paper's text (arXiv 1912.01603v3) differs from the released code,
# whose behaviour is the default, or gives no value. Atari differences are read
# from the atari preset.
PAPER_DIFFERENCES = {
    "train_action": "``mode`` plus exploration noise (the release: ``sample``)",
    "pretrain": "not in the text (the release: ``100``)",
    "actor_init_std": "not in the text (the release: ``5.0``)",
    "actor_mean_scale": "not in the text (the release: ``5.0``)",
}


def _config_fields() -> list[dataclasses.Field]:
    from dreamer_tf.config import DreamerConfig

    return list(dataclasses.fields(DreamerConfig))


def _parse_value(field: dataclasses.Field, text: str | None):
    """Converts a flag's text to the field's type, as absl would."""
    if field.type == "bool":
        return text is None or text.lower() in ("1", "true", "t", "yes")
    if field.type == "int":
        return int(float(text)) if "e" in text.lower() else int(text)
    if field.type == "float":
        return float(text)
    return text


def read_preset(path: pathlib.Path) -> tuple[list[str], list[str], dict]:
    """Reads a flags file's comment, included presets and explicitly set fields.

    Args:
        path: A ``.flags`` file: ``#`` comments, ``--preset=`` (or
            ``--flagfile=``) includes and ``--name=value`` / ``--name`` /
            ``--noname`` lines.

    Returns:
        ``(comment lines, included presets as written, {flag name: value})``;
        values of config fields are converted to the field's type, those of
        other flags (such as ``--task``) are kept as text.
    """
    fields = {field.name: field for field in _config_fields()}
    comment, includes, values = [], [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        name, separator, text = line.removeprefix("--").partition("=")
        if name in INCLUDE_FLAGS:
            includes.append(text)
            continue
        if name not in fields and name.startswith("no") and name[2:] in fields:
            values[name[2:]] = False
            continue
        if name in fields:
            values[name] = _parse_value(fields[name], text if separator else None)
        else:
            values[name] = text
    return comment, includes, values


def _literal(value) -> nodes.Node:
    return nodes.literal(text=repr(value) if isinstance(value, str) else str(value))


def _cell(content) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, str):
        content = [nodes.Text(content)]
    elif isinstance(content, nodes.Node):
        content = [content]
    entry += nodes.paragraph("", "", *content)
    return entry


def _table(header: list[str], rows: list[list], widths: list[int]) -> nodes.table:
    # colwidths-given: the HTML keeps the widths below, as percentages.
    table = nodes.table(classes=["longtable", "colwidths-given"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += nodes.row("", *[_cell(title) for title in header])
    group += head
    body = nodes.tbody()
    for cells in rows:
        body += nodes.row("", *[_cell(cell) for cell in cells])
    group += body
    return table


class ConfigTable(SphinxDirective):
    """Renders every DreamerConfig field as a row of a table."""

    def run(self) -> list[nodes.Node]:
        import dreamer_tf.config

        self.env.note_dependency(dreamer_tf.config.__file__)
        self.env.note_dependency(str(ATARI_PRESET))
        _, _, atari_values = read_preset(ATARI_PRESET)
        rows = []
        for field in _config_fields():
            flag = f"--{field.name}"
            if field.type == "bool":
                flag += f" / --no{field.name}"
            paper = [_literal(field.default)]
            if field.name in PAPER_DIFFERENCES:
                paper = self.parse_inline(PAPER_DIFFERENCES[field.name])[0]
            atari = atari_values.get(field.name, field.default)
            if atari != field.default:
                paper += [nodes.Text("; Atari: "), _literal(atari)]
            rows.append(
                [
                    nodes.literal(text=flag),
                    nodes.literal(text=field.type),
                    _literal(field.default),
                    field.metadata["help"],
                    paper,
                ]
            )
        header = ["Flag", "Type", "Default", "Meaning", "Paper"]
        return [_table(header, rows, [25, 9, 17, 28, 21])]


class Presets(SphinxDirective):
    """Describes each preset in dreamer_tf/presets/ and the flags it sets."""

    def run(self) -> list[nodes.Node]:
        defaults = {field.name: field.default for field in _config_fields()}
        result = []
        for path in sorted(PRESET_DIR.glob(f"*{PRESET_SUFFIX}")):
            self.env.note_dependency(str(path))
            comment, includes, values = read_preset(path)
            relative = path.relative_to(REPOSITORY).as_posix()
            heading = nodes.rubric(
                "",
                "",
                nodes.literal(text=f"--preset={path.stem}"),
                nodes.Text(" ("),
                nodes.literal(text=relative),
                nodes.Text(")"),
            )
            heading["ids"].append(nodes.make_id(f"preset-{path.stem}"))
            result.append(heading)
            result.append(nodes.paragraph(text=" ".join(comment)))
            if includes:
                paragraph = nodes.paragraph(text="Starts from ")
                for index, include in enumerate(includes):
                    if index:
                        paragraph += nodes.Text(", ")
                    paragraph += nodes.literal(text=pathlib.Path(include).stem)
                paragraph += nodes.Text(", then sets:")
                result.append(paragraph)
            rows = [
                [
                    nodes.literal(text=f"--{name}"),
                    _literal(value),
                    _literal(defaults[name]) if name in defaults else "(not a field)",
                    "" if value == defaults.get(name, value) else "changed",
                ]
                for name, value in values.items()
            ]
            header = ["Flag", "Value", "Default", ""]
            result.append(_table(header, rows, [30, 20, 20, 10]))
        return result


class PublicSymbols(SphinxDirective):
    """Lists ``dreamer_tf.__all__`` with the module that defines each name."""

    def run(self) -> list[nodes.Node]:
        import dreamer_tf

        self.env.note_dependency(dreamer_tf.__file__)
        rows = []
        for name in dreamer_tf.__all__:
            module = dreamer_tf._PUBLIC_SYMBOLS[name]
            reference = self.parse_inline(f":py:obj:`{name} <{module}.{name}>`")[0]
            rows.append([reference, nodes.literal(text=module)])
        return [_table(["Name", "Module"], rows, [40, 40])]


class TensorBoardTags(SphinxDirective):
    """Lists every TensorBoard tag, by section, with its description."""

    def run(self) -> list[nodes.Node]:
        from dreamer_tf.run import summaries

        self.env.note_dependency(summaries.__file__)
        named_tags = sorted(
            [*summaries.SCALAR_TAGS.items(), *summaries.VIDEO_TAGS.items()],
            key=lambda item: item[1].name,
        )
        rows = [
            [
                [
                    nodes.literal(text=tag.name),
                    nodes.Text(" ("),
                    nodes.literal(text=name),
                    nodes.Text(")"),
                ],
                tag.description,
            ]
            for name, tag in named_tags
        ]
        header = ["TensorBoard tag (name in metrics.jsonl or the code)", "Meaning"]
        return [_table(header, rows, [40, 60])]


def setup(app) -> dict:
    app.add_directive("dreamer-config-table", ConfigTable)
    app.add_directive("dreamer-presets", Presets)
    app.add_directive("dreamer-public-symbols", PublicSymbols)
    app.add_directive("dreamer-tensorboard-tags", TensorBoardTags)
    return {"version": "1.0", "parallel_read_safe": True}

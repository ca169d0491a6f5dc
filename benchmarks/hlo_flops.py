"""Counts the matmul and convolution FLOPs of a compiled TensorFlow function.

XLA's optimized HLO is the whole computation, loops and gradients included:
every ``dot`` and ``convolution`` instruction is counted from its shapes
(two FLOPs per multiply-add), each computation as often as it runs (a while
loop's body times its known trip count, a conditional's costliest branch).
Elementwise work is not counted: it is a few percent of Dreamer's update.

    flops = hlo_flops(function.experimental_get_compiler_ir(*args)(
        stage="optimized_hlo"))
"""

from __future__ import annotations

import dataclasses
import math
import re

_COMPUTATION = re.compile(r"^(?:ENTRY )?%([\w.\-]+) .*\{$")
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT )?%([\w.\-]+) = (\([^()]*\)|\S+) ([\w\-]+)\((.*)$"
)
_SCALAR_INT_CONSTANT = re.compile(r"= s(?:32|64)\[\] constant\((\d+)\)")
_SHAPE = re.compile(r"^\w+\[([\d,]*)\]")
_OPERAND = re.compile(r"%([\w.\-]+)")


@dataclasses.dataclass
class Flops:
    """FLOPs of matrix products and convolutions."""

    dot: float = 0.0
    convolution: float = 0.0

    @property
    def total(self) -> float:
        """All counted FLOPs."""
        return self.dot + self.convolution

    def add(self, other: Flops, times: float = 1.0) -> None:
        """Adds ``times`` the FLOPs of ``other``."""
        self.dot += times * other.dot
        self.convolution += times * other.convolution


def _dims(shape: str) -> list[int] | None:
    match = _SHAPE.match(shape)
    if match is None:
        return None
    return [int(size) for size in match.group(1).split(",") if size]


def _dot_flops(output, operands, attributes, shapes) -> float:
    lhs = shapes[operands[0]]
    match = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", attributes)
    contracted = [lhs[int(d)] for d in match.group(1).split(",") if d] if match else []
    return 2.0 * math.prod(output) * math.prod(contracted)


def _window(attributes: str, rank: int) -> dict[str, list[int]]:
    """Per spatial dim: size, stride, low padding, input and kernel dilation."""
    text = re.search(r"window=\{([^}]*)\}", attributes)
    fields = dict(item.split("=") for item in text.group(1).split()) if text else {}

    def numbers(key: str, default: int) -> list[int]:
        if key not in fields:
            return [default] * rank
        return [int(value) for value in fields[key].split("x")]

    pads = fields.get("pad")
    low = [int(pad.split("_")[0]) for pad in pads.split("x")] if pads else [0] * rank
    return {
        "size": numbers("size", 1),
        "stride": numbers("stride", 1),
        "low": low,
        "lhs_dilate": numbers("lhs_dilate", 1),
        "rhs_dilate": numbers("rhs_dilate", 1),
    }


def _taps(output_size, input_size, size, stride, low, lhs_dilate, rhs_dilate) -> int:
    """Output positions times window taps that land on a real input element.

    Transposed and gradient convolutions dilate their input with zeros and
    pad it; products with those zeros are not work and are not counted.
    """
    last = (input_size - 1) * lhs_dilate
    count = 0
    for output in range(output_size):
        for tap in range(size):
            position = output * stride + tap * rhs_dilate - low
            count += 0 <= position <= last and position % lhs_dilate == 0
    return count


def _convolution_flops(output, operands, attributes, shapes) -> float:
    labels = re.search(r"dim_labels=(\w+)_(\w+)->(\w+)", attributes)
    input_labels, kernel_labels, output_labels = labels.groups()
    lhs, kernel = shapes[operands[0]], shapes[operands[1]]
    rank = len(output_labels) - 2
    window = _window(attributes, rank)
    taps = 1
    for dim in range(rank):
        taps *= _taps(
            output[output_labels.index(str(dim))],
            lhs[input_labels.index(str(dim))],
            window["size"][dim],
            window["stride"][dim],
            window["low"][dim],
            window["lhs_dilate"][dim],
            window["rhs_dilate"][dim],
        )
    batch = output[output_labels.index("b")]
    features = output[output_labels.index("f")]
    return 2.0 * batch * features * taps * kernel[kernel_labels.index("i")]


def _callees(attributes: str) -> list[tuple[str, str]]:
    """``(kind, computation)`` for every computation an instruction calls."""
    found = [
        (kind, name)
        for kind, name in re.findall(
            r"\b(calls|to_apply|body|condition)=%([\w.\-]+)", attributes
        )
    ]
    branches = re.search(r"branch_computations=\{([^}]*)\}", attributes)
    if branches:
        found += [("branch", name) for name in _OPERAND.findall(branches.group(1))]
    for kind in ("true_computation", "false_computation"):
        match = re.search(rf"{kind}=%([\w.\-]+)", attributes)
        if match:
            found.append(("branch", match.group(1)))
    return found


def _attributes_of(instructions: list[tuple]) -> str:
    return " ".join(attributes for *_, attributes in instructions)


def hlo_flops(hlo_text: str) -> Flops:
    """Matmul and convolution FLOPs of one run of an HLO module's entry.

    Args:
        hlo_text: An HLO module as text (``optimized_hlo`` stage).

    Returns:
        The counted FLOPs.

    Raises:
        ValueError: If a while loop has no known trip count.
    """
    shapes: dict[str, list[int] | None] = {}
    computations: dict[str, list[tuple]] = {}
    constants: dict[str, list[int]] = {}
    entry, current = None, None
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header:
            current = header.group(1)
            computations[current], constants[current] = [], []
            if line.startswith("ENTRY"):
                entry = current
            continue
        constant = _SCALAR_INT_CONSTANT.search(line)
        if constant and current is not None:
            constants[current].append(int(constant.group(1)))
        instruction = _INSTRUCTION.match(line)
        if instruction and current is not None:
            name, shape, opcode, rest = instruction.groups()
            shapes[name] = _dims(shape)
            operand_text = rest.split(")", 1)[0]
            computations[current].append(
                (name, opcode, _OPERAND.findall(operand_text), rest)
            )
    cache: dict[str, Flops] = {}

    definitions = {
        instruction[0]: instruction
        for instructions in computations.values()
        for instruction in instructions
    }

    def initial_value(name: str) -> int | None:
        """The integer an instruction holds when a loop starts, if it is known."""
        _, opcode, operands, attributes = definitions[name]
        if opcode == "constant":
            return int(attributes.split(")", 1)[0])
        if opcode in ("copy", "bitcast", "convert"):
            return initial_value(operands[0])
        if opcode == "get-tuple-element":
            index = int(re.search(r"index=(\d+)", attributes).group(1))
            source = definitions[operands[0]]
            if source[1] == "tuple":
                return initial_value(source[2][index])
            if source[1] == "while":
                # A finished loop's counter equals its trip count.
                return trip_count(*source[::3])
        return None

    def trip_count(name: str, attributes: str) -> int:
        known = re.search(r'known_trip_count":\{"n":"(\d+)"', attributes)
        if known:
            return int(known.group(1))
        # A scan's condition is ``i < n``: n is a constant of the condition,
        # or (a gradient loop's) an element of the loop's initial tuple.
        condition = re.search(r"condition=%([\w.\-]+)", attributes).group(1)
        bounds = list(constants[condition])
        for _, callee in _callees(_attributes_of(computations[condition])):
            bounds += constants.get(callee, [])
        initial = definitions[definitions[name][2][0]]
        for _, opcode, _, element in computations[condition]:
            if opcode == "get-tuple-element" and initial[1] == "tuple":
                index = int(re.search(r"index=(\d+)", element).group(1))
                value = initial_value(initial[2][index])
                bounds += [value] if value is not None else []
        if not bounds:
            raise ValueError(f"while loop {name} has no known trip count")
        return max(bounds)

    def count(computation: str) -> Flops:
        if computation in cache:
            return cache[computation]
        total = Flops()
        for name, opcode, operands, attributes in computations[computation]:
            if opcode == "dot":
                total.dot += _dot_flops(shapes[name], operands, attributes, shapes)
            elif opcode == "convolution":
                total.convolution += _convolution_flops(
                    shapes[name], operands, attributes, shapes
                )
            callees = _callees(attributes)
            branches = [count(callee) for kind, callee in callees if kind == "branch"]
            if branches:
                total.add(max(branches, key=lambda flops: flops.total))
            for kind, callee in callees:
                if kind in ("calls", "to_apply"):
                    total.add(count(callee))
                elif kind in ("body", "condition"):
                    total.add(count(callee), trip_count(name, attributes))
        cache[computation] = total
        return total

    return count(entry)

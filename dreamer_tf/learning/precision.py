"""Which compute precision fits the hardware, and dynamic loss scaling for float16.

``precision=16`` means 16-bit compute with float32 variables, distributions
and losses; ``precision=auto`` means 16 where the hardware computes it
natively and 32 elsewhere (a CPU without native bfloat16). Which 16-bit type
depends on the device:

- a GPU with bfloat16 (compute capability 8.0 or newer): ``mixed_bfloat16``;
- an older GPU: ``mixed_float16`` with dynamic loss scaling, as the paper's
  code trains;
- a CPU with native bfloat16 instructions (``avx512_bf16`` or ``amx_bf16`` on
  x86, ``bf16`` on Arm): ``mixed_bfloat16``;
- any other CPU: refused, since emulated bfloat16 made the update about three
  times slower than float32.

The detection functions do not import TensorFlow.
"""

from __future__ import annotations

import pathlib

CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
FLOAT32, MIXED_BFLOAT16, MIXED_FLOAT16 = "float32", "mixed_bfloat16", "mixed_float16"


def cpu_flags(cpuinfo: str | pathlib.Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``); empty if unknown."""
    try:
        text = pathlib.Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def cpu_has_native_bfloat16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (see :data:`CPU_BF16_FLAGS`)."""
    return bool(CPU_BF16_FLAGS & (cpu_flags() if flags is None else flags))


def describe_policy(policy: str, precision: str | int) -> str:
    """The compute in words, for the start of a run.

    Args:
        policy: What :func:`compute_policy` chose.
        precision: The config's precision it chose from.
    """
    compute = {
        FLOAT32: "float32",
        MIXED_BFLOAT16: "bfloat16 compute, float32 weights",
        MIXED_FLOAT16: "float16 compute with loss scaling, float32 weights",
    }[policy]
    why = ""
    if str(precision) == "auto":
        why = (
            ": no native 16-bit compute here"
            if policy == FLOAT32
            else ": native 16-bit compute here"
        )
    return f"{compute} (--precision={precision}{why})"


def compute_policy(
    precision: str | int,
    gpu_capabilities: list[tuple[int, int]],
    cpu_bfloat16: bool,
) -> str:
    """The Keras dtype policy for ``precision`` on this hardware.

    Args:
        precision: ``"32"``, ``"16"`` or ``"auto"`` (or the number 32 or 16).
        gpu_capabilities: CUDA compute capability of each visible GPU; empty
            on a CPU-only machine.
        cpu_bfloat16: Whether the CPU has native bfloat16.

    Returns:
        ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.

    Raises:
        ValueError: For 16 on a CPU without native bfloat16.
    """
    precision = str(precision)
    if precision == "32":
        return FLOAT32
    if gpu_capabilities:
        if all(capability >= (8, 0) for capability in gpu_capabilities):
            return MIXED_BFLOAT16
        return MIXED_FLOAT16
    if cpu_bfloat16:
        return MIXED_BFLOAT16
    if precision == "auto":
        return FLOAT32
    raise ValueError(
        "precision=16 needs a GPU or a CPU with native bfloat16 (avx512_bf16 or "
        "amx_bf16); this CPU would emulate it, about 3x slower than float32: "
        "use --precision=32."
    )

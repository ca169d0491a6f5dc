"""Links to the public documentation of the classes dreamer_tf builds on.

The build has no network, so intersphinx cannot fetch the inventories of
Keras, TensorFlow, TensorFlow Probability, gymnasium, NumPy or Python. This
extension knows the public pages of the classes our API names instead:

- ``autodoc-process-bases`` shows a base class by its public name
  (``keras.layers.Layer``, not where it is defined, ``keras.src.layers.layer``);
- ``missing-reference`` links a reference to such a class, by its public name
  or by where it is defined (as type hints name it), to its public page, and
  a reference to a built-in class or to one of ``typing``, ``collections.abc``,
  ``pathlib`` and ``os`` to Python's documentation.

A reference to anything else outside dreamer_tf stays plain text (``conf.py``
lets it through); a reference into dreamer_tf resolves within these docs.
"""

from __future__ import annotations

import builtins
import importlib

from docutils import nodes

KERAS_URL = "https://keras.io/api/layers/"
GYMNASIUM_URL = "https://gymnasium.farama.org/api/"
NUMPY_URL = "https://numpy.org/doc/stable/reference/generated/"
PYTHON_URL = "https://docs.python.org/3/library/"


def _tensorflow_url(public_name: str) -> str:
    """tensorflow.org's page of a ``tf.`` or ``tfp.`` name."""
    path = public_name.replace(".", "/")
    if public_name.startswith("tfp."):
        return f"https://www.tensorflow.org/probability/api_docs/python/{path}"
    return f"https://www.tensorflow.org/api_docs/python/{path}"


# Public name: its page. Every base class of our API is here, with the classes
# its signatures name most (a Tensor, an ndarray, a Strategy).
PUBLIC_URLS = {
    "keras.layers.Layer": f"{KERAS_URL}base_layer/",
    "keras.layers.Conv2D": f"{KERAS_URL}convolution_layers/convolution2d/",
    "keras.layers.Conv2DTranspose": (
        f"{KERAS_URL}convolution_layers/convolution2d_transpose/"
    ),
    "keras.layers.GRUCell": f"{KERAS_URL}recurrent_layers/gru_cell/",
    **{
        name: _tensorflow_url(name)
        for name in (
            "tf.Module",
            "tf.Tensor",
            "tf.Variable",
            "tf.distribute.Strategy",
            "tf.train.Checkpoint",
            "tfp.distributions.Distribution",
            "tfp.distributions.OneHotCategorical",
            "tfp.distributions.TruncatedNormal",
            "tfp.bijectors.Tanh",
        )
    },
    "gymnasium.Env": f"{GYMNASIUM_URL}env/#gymnasium.Env",
    "gymnasium.Wrapper": f"{GYMNASIUM_URL}wrappers/#gymnasium.Wrapper",
    "gymnasium.ObservationWrapper": (
        f"{GYMNASIUM_URL}wrappers/observation_wrappers/#gymnasium.ObservationWrapper"
    ),
    "gymnasium.ActionWrapper": (
        f"{GYMNASIUM_URL}wrappers/action_wrappers/#gymnasium.ActionWrapper"
    ),
    "gymnasium.vector.VectorEnv": f"{GYMNASIUM_URL}vector/#gymnasium.vector.VectorEnv",
    "gymnasium.spaces.Space": f"{GYMNASIUM_URL}spaces/#gymnasium.spaces.Space",
    "gymnasium.spaces.Dict": f"{GYMNASIUM_URL}spaces/composite/#gymnasium.spaces.Dict",
    "numpy.ndarray": f"{NUMPY_URL}numpy.ndarray.html",
    "numpy.dtype": f"{NUMPY_URL}numpy.dtype.html",
    "numpy.random.Generator": f"{NUMPY_URL}numpy.random.Generator.html",
}
# The packages that the first part of a public name stands for.
PACKAGES = {"tf": "tensorflow", "tfp": "tensorflow_probability"}
# Modules whose page in Python's library documentation is named after them.
PYTHON_MODULES = ("typing", "collections.abc", "pathlib", "os")
# Built-in classes on the page of built-in types; the other classes that are
# not exceptions are on the page of built-in functions.
PYTHON_TYPES_PAGE = (
    "str",
    "bytes",
    "bytearray",
    "memoryview",
    "list",
    "tuple",
    "range",
    "dict",
    "set",
    "frozenset",
)


def _resolve(public_name: str):
    """The object a public name stands for (``tf.Module``: ``tensorflow.Module``)."""
    package, *attributes = public_name.split(".")
    target = importlib.import_module(PACKAGES.get(package, package))
    for attribute in attributes:
        target = getattr(target, attribute)
    return target


def _defined_at(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _public_names() -> dict[str, str]:
    """Where each class of :data:`PUBLIC_URLS` is defined: its public name."""
    names = {name: name for name in PUBLIC_URLS}
    for name in PUBLIC_URLS:
        names[_defined_at(_resolve(name))] = name
    return names


def _python_url(target: str) -> str | None:
    """The page of a built-in class or of a name in :data:`PYTHON_MODULES`."""
    module, _, name = target.rpartition(".")
    if module in PYTHON_MODULES:
        return f"{PYTHON_URL}{module}.html#{target}"
    cls = getattr(builtins, name, None) if module in ("", "builtins") else None
    if not isinstance(cls, type):
        return None
    if issubclass(cls, BaseException):
        return f"{PYTHON_URL}exceptions.html#{name}"
    page = "stdtypes" if name in PYTHON_TYPES_PAGE else "functions"
    return f"{PYTHON_URL}{page}.html#{name}"


class _Links:
    """The two event handlers, sharing the map of public names."""

    def __init__(self):
        self._public_names = None

    @property
    def public_names(self) -> dict[str, str]:
        # Built on first use: by then autodoc has imported TensorFlow anyway.
        if self._public_names is None:
            self._public_names = _public_names()
        return self._public_names

    def process_bases(self, app, name, obj, options, bases: list) -> None:
        for index, base in enumerate(bases):
            if not isinstance(base, type):
                continue
            public = self.public_names.get(_defined_at(base))
            if public is not None:
                bases[index] = f":py:class:`{public}`"

    def missing_reference(self, app, env, node, contnode):
        if node.get("refdomain") != "py":
            return None
        target = node["reftarget"]
        public = self.public_names.get(target)
        url = PUBLIC_URLS[public] if public else _python_url(target)
        if url is None:
            return None
        if public and contnode.astext() == target != public:
            contnode = nodes.literal(public, public, classes=contnode["classes"])
        reference = nodes.reference(
            "", "", internal=False, refuri=url, reftitle=public or target
        )
        reference += contnode
        return reference


def setup(app) -> dict:
    links = _Links()
    app.connect("autodoc-process-bases", links.process_bases)
    app.connect("missing-reference", links.missing_reference)
    return {"version": "1.0", "parallel_read_safe": True}

"""Sphinx configuration of the dreamer_tf documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``. Besides
Sphinx's built-in extensions and ours in ``_ext/`` only
``sphinx-mathjax-offline`` is used, which copies MathJax into the build, so the
pages need no network, to build or to read.
"""

import inspect
import pathlib
import sys

DOCS_DIR = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS_DIR / "_ext"))
sys.path.insert(0, str(DOCS_DIR.parent))

import dreamer_tf  # noqa: E402 - found through the path set above

project = "dreamer_tf"
author = "dreamer_tf contributors"
copyright = "2025, dreamer_tf contributors"
version = release = dreamer_tf.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    # MathJax 3 from a package, copied into _static: equations render offline.
    "sphinx-mathjax-offline",
    "dreamer_docs",
    "dreamer_code_lines",
    "dreamer_links",
]

exclude_patterns = ["_build"]
templates_path = []
html_static_path = ["_static"]
# Wrapping code, whole module names in the sidebar, equations within the column.
html_css_files = ["dreamer.css"]
html_theme = "alabaster"
html_theme_options = {
    "description": "Dreamer (Hafner et al., ICLR 2020) in TensorFlow 2 and Keras 3",
    "fixed_sidebar": True,
    # Wide enough for dreamer_tf.distributions and 88-character code lines.
    "page_width": "1180px",
    "sidebar_width": "280px",
}

# Google-style docstrings. "Attributes:" sections become "Variables" fields, so
# dataclass fields are not described twice.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
# Layers document the arguments of ``call`` under "Call args:", a list like
# "Args:" (unknown to napoleon, it would be one run-on paragraph).
napoleon_custom_sections = [("Call args", "params_style")]

# Arguments of classes live in the class docstring (``__init__`` for a few).
autoclass_content = "both"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Types from the signature go only to the parameters (and the return value) a
# docstring describes.
autodoc_typehints_description_target = "documented_params"
# Keras and tf.Module docstrings are not ours and not written for Sphinx: an
# overridden ``call`` or ``build`` must not inherit them.
autodoc_inherit_docstrings = False
autodoc_default_options = {"members": True, "show-inheritance": True}

# Every cross-reference to a public part of dreamer_tf must resolve; private
# ones (``dreamer_tf._quiet``) have no page and stay plain text. Without
# intersphinx (no network at build time) references outside dreamer_tf
# resolve only where _ext/dreamer_links.py knows the public page (the classes
# our API subclasses or takes, Python's built-in types); the others are let
# through as plain text, as are the short names some docstrings use for
# attributes.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!dreamer_tf\.).*"),
    (r"py:.*", r"dreamer_tf\.(?:\w+\.)*_\w*"),
]


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Skips class members that TensorFlow Probability adds to our classes.

    TFP's distribution metaclass copies ``kl_divergence`` and
    ``cross_entropy``, with Markdown docstrings, into every subclass such as
    :class:`dreamer_tf.distributions.OneHotDist`; they are TFP's API, not ours.
    """
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and callable(obj) and not module.startswith("dreamer_tf"):
        return True
    return None


def _constructor_signature(app, what, name, obj, options, signature, annotation):
    """Shows the parameters of ``__init__`` for Keras layers.

    ``keras.layers.Layer`` defines ``__new__(cls, *args, **kwargs)``, which
    autodoc would otherwise show as the signature of every layer.
    """
    if what != "class" or signature != "(*args, **kwargs)":
        return None
    from sphinx.util.inspect import stringify_signature

    init_signature = inspect.signature(obj.__init__)
    parameters = list(init_signature.parameters.values())[1:]
    init_signature = init_signature.replace(parameters=parameters)
    return stringify_signature(init_signature, show_annotation=False), annotation


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("autodoc-process-signature", _constructor_signature)

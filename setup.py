"""Installs dreamer_tf: Dreamer (Hafner et al., ICLR 2020) in TensorFlow/Keras 3."""

import pathlib

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    # TF 2.21 with its own tf-keras: TFP imports tf_keras on first use.
    # Depend on `tensorflow`, not `tensorflow-cpu`: tf-keras pulls `tensorflow`.
    "tensorflow>=2.21,<2.22",
    "tf-keras>=2.21,<2.22",
    "keras>=3.15,<4",
    "tensorflow-probability>=0.25,<0.26",
    # mujoco 4 removed MjModel.flex_vertedge, which dm-control 1.0.50 reads.
    "dm-control==1.0.50",
    "mujoco>=3.17,<4",
    "gymnasium>=1.0,<2",
    "ale-py>=0.9",
    "absl-py>=2.0",
    "numpy>=1.26",
    "pillow>=10.1",
    # gymnasium's MuJoCo envs import imageio when they render.
    "imageio>=2.30",
    "matplotlib>=3.8",
    # TF 2.21 no longer installs it; runs write TensorBoard logs to look at.
    "tensorboard>=2.21,<3",
]

setup(
    name="dreamer_tf",
    version="0.2.0",
    description="Dreamer (learning behaviors by latent imagination) in TensorFlow.",
    long_description=pathlib.Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["dreamer_tf", "dreamer_tf.*"]),
    package_data={"dreamer_tf": ["data/*.json", "presets/*.flags"]},
    install_requires=INSTALL_REQUIRES,
    # dreamer-tf train|eval|export|plot|tensorboard (dreamer_tf.commands).
    entry_points={"console_scripts": ["dreamer-tf = dreamer_tf.commands:run"]},
    extras_require={
        "test": ["pytest>=8", "ruff>=0.5"],
        # MathJax in a package, so the built docs render equations offline.
        "docs": ["sphinx>=7", "sphinx-mathjax-offline>=0.0.2,<0.1"],
        # Ray actors (--actor_backend=ray): verified with 2.60.
        "distributed": ["ray>=2.60,<3"],
    },
)

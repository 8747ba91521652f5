"""Train, gate, version and serve a model defined by its data contract."""

from importlib.metadata import version

__version__ = version("{{ cookiecutter.project }}")

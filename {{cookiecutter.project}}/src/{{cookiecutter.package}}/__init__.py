"""Train, gate, version and serve a model defined by its data contract."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("{{ cookiecutter.project }}")
except PackageNotFoundError:  # inside a bento the code is copied, not installed
    __version__ = "0+bento"

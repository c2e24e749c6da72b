"""The installed version of nanomag (``0.0.0+unknown`` when run from a source tree that is not installed)."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("nanomag")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0+unknown"

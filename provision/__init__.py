"""provision: declarative, verifiable Java development hosts (OpenJDK, JAVA_HOME, WSL2 systemd)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("provision")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

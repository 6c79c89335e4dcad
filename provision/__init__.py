"""provision: declarative, verifiable Java development hosts (OpenJDK, JAVA_HOME, WSL2 systemd)."""

# The one place the version is written (pyproject.toml reads it from here): no importlib.metadata
# lookup at start-up, which costs more than the rest of `provision --version`.
__version__ = "0.1.0"

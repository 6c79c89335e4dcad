"""The built-in resource types, one module each (found by provision.registry, not listed here)."""

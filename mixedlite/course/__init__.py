"""mixedlite's course layer (see the package docstring)."""

"""mixedlite's core layer (see the package docstring)."""

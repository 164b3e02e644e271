"""mixedlite's inference layer (see the package docstring)."""

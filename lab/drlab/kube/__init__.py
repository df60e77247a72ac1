"""See the package docstring of drlab."""

"""curator-kit: scaffold, containerize and run custom NeMo Curator video pipeline stages."""

__version__ = "0.1.0"

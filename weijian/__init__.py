"""weijian: a GIS platform for the long-term control of illegal construction (违法建设长效管控)."""

__version__ = "0.1.0"

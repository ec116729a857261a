"""Trail: privacy-friendly, real-time web analytics."""

__version__ = "0.1.0"

"""kefu: intelligent customer service for sharing-economy operators."""

__version__ = "0.1.0"

"""Lookout: a video surveillance command platform for scenic areas, hotels and public places."""

__version__ = "0.1.0"

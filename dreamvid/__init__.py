"""dreamvid: DeepDream for videos and animations."""

__version__ = "0.1.0"

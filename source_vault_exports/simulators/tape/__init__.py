"""A loopback Tape (see `app.py`) over deterministic data (see `dataset.py`), with its file host (see `storage.py`)."""

from source_vault_exports.simulators.tape.app import DEFAULT_APPS, TapeOptions, TapeSimulator
from source_vault_exports.simulators.tape.storage import TapeStorageApp

__all__ = ["DEFAULT_APPS", "TapeOptions", "TapeSimulator", "TapeStorageApp"]

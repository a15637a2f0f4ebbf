"""Console entry point `source-vault-exports`: the standard Airbyte commands via the CDK.

`launch` is the CDK's, with the fast record path's entrypoint (see `core/fast_records.py`).
"""

import sys
from typing import List, Optional

from source_vault_exports.core.fast_records import launch
from source_vault_exports.source import SourceVaultExports


def run(args: Optional[List[str]] = None) -> None:
    launch(SourceVaultExports(), sys.argv[1:] if args is None else args)


if __name__ == "__main__":
    run()

"""Packaging for source-vault-exports.

`schemas/` lives at the top of the repository (the Airbyte connector layout) and is shipped
inside the installed package as `source_vault_exports.schemas`, so the image and a pip install
read the same files.
"""

from setuptools import find_packages, setup

VERSION = "0.1.0"

MAIN_REQUIREMENTS = [
    "airbyte-cdk==7.39.1",
    "requests==2.34.2",
    # airbyte-cdk 7.x no longer installs pendulum; our date handling uses it directly.
    "pendulum==3.1.0",
    "jsonschema==4.26.0",
    "orjson==3.13.0",
    "duckdb==2.0.1",
    "rich==15.0.0",
]

TEST_REQUIREMENTS = [
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    "requests-mock==1.12.1",
    # The Airbyte registry's metadata schema (ConnectorMetadataDefinitionV0), for unit_tests/test_metadata.py.
    "airbyte-connector-models==0.1.12",
    "hypothesis==6.170.17",
]

setup(
    name="source-vault-exports",
    version=VERSION,
    description=(
        "Airbyte source for the export and attachment APIs of Veeva Vault, Batch.com, Tape and Zuora"
    ),
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["source_vault_exports", "source_vault_exports.*"])
    + ["source_vault_exports.schemas"],
    package_dir={"source_vault_exports.schemas": "schemas"},
    package_data={"source_vault_exports.schemas": ["*.json"]},
    install_requires=MAIN_REQUIREMENTS,
    extras_require={"tests": TEST_REQUIREMENTS},
    entry_points={
        "console_scripts": [
            "source-vault-exports=source_vault_exports.run:run",
            "source-vault-exports-local=source_vault_exports.local_sync.cli:main",
            "vault-exports-simulator=source_vault_exports.simulators.cli:main",
        ],
    },
)

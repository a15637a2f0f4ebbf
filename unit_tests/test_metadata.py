"""metadata.yaml is valid for the Airbyte registry and agrees with the package, image and docs."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import ConnectorMetadataDefinitionV0

from source_vault_exports.spec import connector_specification

ROOT = Path(__file__).resolve().parents[1]
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text())
DATA = METADATA["data"]
DOCS_SITE = "https://docs.airbyte.com/"


def registry_schema() -> dict:
    """The registry's metadata schema, as the airbyte-connector-models package ships it."""
    schema_file = resources.files("airbyte_connector_models.metadata.v0").joinpath("ConnectorMetadataDefinitionV0.json")
    return json.loads(schema_file.read_text())


def dockerfile_value(pattern: str) -> str:
    match = re.search(pattern, (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, f"Dockerfile has no {pattern!r}"
    return match.group(1)


def test_metadata_validates_against_the_registry_schema():
    schema = registry_schema()
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}" for error in validator.iter_errors(METADATA)]
    assert not problems, "\n".join(problems)
    # The typed model the registry tooling loads must accept it too.
    ConnectorMetadataDefinitionV0.model_validate(METADATA)


def test_metadata_has_what_a_registry_entry_needs():
    assert DATA["connectorType"] == "source" and DATA["connectorSubtype"] == "api"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", DATA["definitionId"])
    assert DATA["dockerRepository"] == "airbyte/source-vault-exports"
    assert DATA["releaseStage"] in ("alpha", "beta", "generally_available")
    assert {"language:python", "cdk:python"} <= set(DATA["tags"])
    assert (ROOT / DATA["icon"]).is_file()
    assert DATA["allowedHosts"]["hosts"]


def test_versions_agree_across_metadata_setup_dockerfile_and_changelog():
    version = DATA["dockerImageTag"]
    setup_version = re.search(r'^VERSION = "([^"]+)"', (ROOT / "setup.py").read_text(), re.MULTILINE)
    assert setup_version and setup_version.group(1) == version
    assert dockerfile_value(r"io\.airbyte\.version=(\S+)") == version
    assert dockerfile_value(r"io\.airbyte\.name=(\S+)") == DATA["dockerRepository"]
    assert dockerfile_value(r"^ARG BASE_IMAGE=(\S+)") == DATA["connectorBuildOptions"]["baseImage"]
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()


def test_documentation_url_is_the_spec_url_and_the_page_is_in_the_repo():
    url = DATA["documentationUrl"]
    assert connector_specification().documentationUrl == url
    # docs.airbyte.com/integrations/sources/<name> is built from docs/integrations/sources/<name>.md
    assert url.startswith(DOCS_SITE)
    page = ROOT / "docs" / f"{url[len(DOCS_SITE):]}.md"
    assert page.is_file(), f"{url} has no page at {page.relative_to(ROOT)}"
    text = page.read_text()
    assert text.startswith(f"# {DATA['name']}")
    sections = ("## Prerequisites", "## Setup guide", "## Supported sync modes", "## Supported streams", "## Limitations", "## Troubleshooting")
    for section in (*sections, "## Changelog"):
        assert section in text, f"{page.name} lacks {section}"
    assert f"| {DATA['dockerImageTag']} " in text, "the docs changelog lacks the current version"


def _allowed(host: str) -> bool:
    return any(fnmatch(host, pattern) for pattern in DATA["allowedHosts"]["hosts"])


@pytest.mark.parametrize(
    "vendor, field",
    [("zuora", "base_url"), ("batch", "api_url"), ("tape", "api_url")],
)
def test_allowed_hosts_cover_each_vendors_default_host(vendor: str, field: str):
    prop = connector_specification().connectionSpecification["properties"][vendor]["properties"][field]
    urls = [prop["default"], *prop.get("examples", [])]
    for url in urls:
        assert _allowed(urlparse(url).hostname), f"{vendor}.{field} {url} is not in allowedHosts"


def test_allowed_hosts_cover_any_vault_and_every_zuora_data_centre():
    assert _allowed("myvault.veevavault.com")
    zuora = [host for host in DATA["allowedHosts"]["hosts"] if host.endswith("zuora.com")]
    assert len(zuora) == 9  # the data centres of vendor-apis.md 4.1

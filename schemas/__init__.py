"""JSON schemas of the streams, shipped inside the package as `source_vault_exports.schemas`."""

"""Entry point of the docker image (AIRBYTE_ENTRYPOINT runs `python /airbyte/integration_code/main.py`)."""

from source_vault_exports.run import run

if __name__ == "__main__":
    run()

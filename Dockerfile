ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.0
FROM ${BASE_IMAGE}

WORKDIR /airbyte/integration_code

# Dependencies come from setup.py alone, installed before any source is copied, so a code
# change rebuilds only the last layers (seconds) instead of re-downloading the CDK.
COPY setup.py README.md ./
RUN mkdir -p source_vault_exports schemas \
    && touch source_vault_exports/__init__.py schemas/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall -y source-vault-exports \
    && rm -rf source_vault_exports schemas build

COPY main.py ./
COPY schemas ./schemas
COPY source_vault_exports ./source_vault_exports
RUN pip install --no-cache-dir --no-deps . && rm -rf build

ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]

LABEL io.airbyte.name=airbyte/source-vault-exports
LABEL io.airbyte.version=0.1.0

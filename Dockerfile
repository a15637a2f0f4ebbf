# Airbyte Python connector image. Airbyte's base image (python-connector-base >= 3.0.0) provides
# Python 3.11, pip and the non-root `airbyte` user (uid 1000) that connectors run as.
# container-check swaps in a plain Debian python image through BASE_IMAGE; the user is created
# below when the base does not have it, so both images run the connector the same way.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.0
FROM ${BASE_IMAGE}

WORKDIR /airbyte/integration_code

# Dependencies come from setup.py alone, installed before any source is copied, so a code
# change rebuilds only the last layers (seconds) instead of re-downloading the CDK.
COPY setup.py README.md /tmp/build/
RUN mkdir -p /tmp/build/source_vault_exports /tmp/build/schemas \
    && touch /tmp/build/source_vault_exports/__init__.py /tmp/build/schemas/__init__.py \
    && pip install --no-cache-dir /tmp/build \
    && pip uninstall -y source-vault-exports \
    && rm -rf /tmp/build \
    && (id -u airbyte >/dev/null 2>&1 \
        || useradd --uid 1000 --user-group --home-dir /airbyte --no-create-home --shell /usr/sbin/nologin airbyte)

# The package is installed into site-packages and its sources removed: /airbyte/integration_code
# holds only main.py, so `import source_vault_exports` cannot pick up a source tree that lacks the
# `source_vault_exports.schemas` package setup.py maps from the top-level schemas/ folder.
COPY setup.py README.md /tmp/build/
COPY schemas /tmp/build/schemas
COPY source_vault_exports /tmp/build/source_vault_exports
RUN pip install --no-cache-dir --no-deps /tmp/build && rm -rf /tmp/build
COPY main.py ./

ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]

LABEL io.airbyte.name=airbyte/source-vault-exports \
      io.airbyte.version=0.1.0

# The code stays root-owned and read-only to the connector; it writes only to /tmp and to the
# staging folder that Airbyte mounts for file transfer. Numeric, so that Kubernetes'
# runAsNonRoot can verify it: uid 1000 is `airbyte`.
USER 1000:1000

# One image for both halves of a walflow host: PostgreSQL whose archive_command is
# `walflow push`, and the walflow worker (`walflow worker`). Same versions of both at all times.
#   docker build -t walflow .

ARG NODE_IMAGE=node:24-bookworm-slim
ARG POSTGRES_IMAGE=postgres:17-bookworm

# --- build: npm dependencies, tsc and the workflow bundle -----------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install` with the lock file rather than `npm ci` (see scripts/bootstrap for why).
RUN npm install --no-audit --no-fund --loglevel=error
COPY . .
RUN npx tsc -p . && node dist/scripts/build-workflow-bundle.js && npm prune --omit=dev --no-audit --no-fund

# --- runtime: the official PostgreSQL image plus Node and walflow ----------------------------
FROM ${NODE_IMAGE} AS node
FROM ${POSTGRES_IMAGE}
# bin/walflow finds Node at <root>/.tools/node/bin/node, never on PATH: PostgreSQL runs
# archive_command with its own environment. Both images are Debian bookworm (same glibc;
# libstdc++ comes with the postgres image's ICU).
COPY --from=node /usr/local/bin/node /opt/walflow/.tools/node/bin/node
COPY --from=build /src/package.json /opt/walflow/
COPY --from=build /src/node_modules /opt/walflow/node_modules
COPY --from=build /src/dist /opt/walflow/dist
COPY --from=build /src/bin /opt/walflow/bin
# Catalog migrations are read at run time from <root>/db/migrations.
COPY --from=build /src/db/migrations /opt/walflow/db/migrations
# The spool is shared by PostgreSQL (push) and the worker, both running as postgres: a named
# volume mounted on an image folder starts with that folder's owner and mode.
RUN ln -s /opt/walflow/bin/walflow /usr/local/bin/walflow \
 && mkdir -p /var/spool/walflow /var/lib/walflow \
 && chown postgres:postgres /var/spool/walflow /var/lib/walflow \
 && chmod 0750 /var/spool/walflow \
 && walflow --help >/dev/null
# The image's default command stays `postgres` (from the base image); the worker service
# runs `walflow worker --env-file ...` as the postgres user instead.

# One image for the API, the worker and the migration job (the command picks the role):
#   node --import tsx api/server.ts | workers/main.ts | db/migrate.ts
# node itself is PID 1 (not npm), so SIGTERM reaches the process that drains.
# tsx runs the TypeScript sources directly, so there is no build stage.
# Node 22 (LTS); CI runs the pure suites under the same version (test/node22.test.ts).
ARG NODE_VERSION=22.23.3
FROM node:${NODE_VERSION}-bookworm-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# Dependencies first, so source edits don't invalidate this layer.
# (npm 10 ignores package.json's `allowScripts`, which only npm 11 reads.)
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

# The workflow bundle, built once here: workers load it (WORKFLOW_BUNDLE_PATH) instead of running
# webpack at every start, which costs seconds and leaves its garbage in their memory.
RUN node --import tsx scripts/bundle-workflows.ts /app/dist/workflow-bundle.js

# DATA_DIR is only used by the embedded dev stack (`npm start`); give it a writable home anyway.
RUN mkdir -p /app/.data && chown 1000:1000 /app/.data

# Listen on all interfaces inside the container (the app's default is 127.0.0.1).
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/.data \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js

# The image's `node` user, by number: resolvable whatever the host's user database.
USER 1000:1000
EXPOSE 3000

# No HEALTHCHECK here: the same image runs the worker and the migration job;
# docker-compose.yml defines a health check per role.
CMD ["node", "--import", "tsx", "api/server.ts"]

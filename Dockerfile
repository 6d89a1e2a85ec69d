# Qasid daemon image: build with dev dependencies, run with production ones, as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
# Everything the compiled code reads at run time, relative to itself: the intake message schema
# (schema/), the carrier and route JSON Schemas and the demo's example config (config/), and
# package.json (the version). test/packaging/image.test.ts assembles the image from these lines.
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
COPY schema ./schema
USER node
# Liveness from the admin server (loopback inside the container; QASID_ADMIN_PORT, default 9464).
# To move the admin port, set QASID_ADMIN_PORT rather than admin.port in the file, so this follows.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.QASID_ADMIN_PORT||9464)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENV QASID_CONFIG=/app/config/qasid.json
# Node's default young generation: with dispatch.maxInFlight at 1,000 a 64 MiB one no longer
# pays (bench/RESULTS.md, 2026-12-02: 0.85x the daemon CPU per message and ~100 MB less RSS without it).
ENTRYPOINT ["node", "bin/qasid.js"]
CMD ["run"]

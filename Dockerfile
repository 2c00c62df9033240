# The dnsrace image: the npm package (npm pack), installed with its runtime dependencies only
# into node:20-slim; the entrypoint is the CLI, so `docker run IMAGE sweep FILE ...` and a
# Kubernetes container's args are dnsrace's arguments (README, "Running a sweep on Kubernetes").
#
#   docker build -t REGISTRY/dnsrace:VERSION .

# Stage 1: build the package tarball exactly as `npm pack` makes it for the registry
# (prepack removes dist/ and compiles it afresh; package.json "files" says what goes in).
FROM node:20-slim AS pack
WORKDIR /src
COPY package.json package-lock.json ./
# The compiler and the rest of the devDependencies; no install scripts (there is nothing to build yet).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN mkdir /pkg && npm pack --pack-destination /pkg

# Stage 2: the tarball installed globally, without devDependencies.
FROM node:20-slim
COPY --from=pack /pkg/ /tmp/pkg/
RUN npm install --global --omit=dev --no-audit --no-fund /tmp/pkg/dnsrace-*.tgz \
 && rm -rf /tmp/pkg \
 && npm cache clean --force
# The uid of node:20-slim's "node" user (1000); the printed Job sets fsGroup 1000 so that it can
# write to the results volume.
USER node
WORKDIR /home/node
ENTRYPOINT ["dnsrace"]
CMD ["--help"]

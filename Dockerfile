# SWFT production image.
#
#   docker build -t swft:latest .                                # runtime: one compiled binary
#   docker build --target runtime-deno -t swft:deno .            # no deno compile needed
#   docker run --rm -p 8080:80 --env-file .env swft:latest
#
# Stages: deps (npm packages, keyed on deno.json + deno.lock only) -> app (the code, caches
# warmed) -> runtime-deno (deno + app on distroless) ; app -> builder (deno task build) ->
# runtime (distroless + dist/swft, the default because it is last).
# Works with the legacy builder and BuildKit alike: no syntax directive, no RUN --mount,
# no COPY --link. The legacy builder builds every stage before the target, so runtime-deno
# comes before builder: where deno compile cannot fetch its runtime, runtime-deno still builds.

ARG DENO_IMAGE=denoland/deno:2.9.6
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian13:nonroot

# ---------------------------------------------------------------------------------------------
FROM ${DENO_IMAGE} AS deps
# Build-time TLS for a TLS-intercepting proxy: put its CA in the context as build-ca.pem (used
# automatically) or name a file already in the image with DENO_CERT; DENO_TLS_CA_STORE=system
# trusts the image's system store.
ARG DENO_CERT
ARG DENO_TLS_CA_STORE
ENV DENO_DIR=/deno-dir/ \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1 \
    NO_COLOR=1
WORKDIR /app
# Only the manifest and the lock: a code change does not invalidate the npm layer below.
# image_lock.ts prunes the tooling's npm packages from the lock first (deno install --frozen
# installs every package of the lock): the npm layer holds the import map's packages only.
COPY deno.json deno.lock tasks/_lib/image_lock.ts build-ca.pe[m] ./
RUN if [ -z "${DENO_CERT}" ] && [ -f build-ca.pem ]; then export DENO_CERT=/app/build-ca.pem; fi \
 && deno run --no-lock --allow-read=deno.lock --allow-write=deno.lock image_lock.ts \
 && rm image_lock.ts \
 && deno install --frozen

# ---------------------------------------------------------------------------------------------
FROM deps AS app
# The server's own files, nothing else (the .dockerignore keeps the rest out of the context).
COPY main.ts ./
COPY config/ ./config/
COPY server/ ./server/
COPY routes/ ./routes/
COPY templates/ ./templates/
COPY static/ ./static/
# Load the whole module graph once, offline, so runtime-deno starts from the emitted JavaScript
# (gen/). The SQLite caches (dependency and CommonJS analysis, V8 code cache) and the npm
# registry.json copies are removed: their bytes depend on load order and on the day of the
# build, so two builds of one commit would differ, and the container (read-only, not their
# owner) starts as fast without them (docs/image.md, "Reproducible"). So are the partial
# `registry.*.tmp` copies an interrupted write of registry.json leaves now and then (seen: one
# 256 KiB file in one build of three, the release round's flake).
RUN deno run --cached-only --frozen --allow-env main.ts --version \
 && rm -f /deno-dir/*_cache_v2 /deno-dir/*_cache_v2-shm /deno-dir/*_cache_v2-wal \
 && find /deno-dir/npm \( -name registry.json -o -name 'registry.*.tmp' \) -delete

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-deno
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
ARG CREATED=""
LABEL org.opencontainers.image.title="swft" \
      org.opencontainers.image.description="SWFT demo web service (Deno + Hono), deno run on distroless" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=deps /usr/bin/deno /usr/bin/deno
COPY --from=app /deno-dir/ /deno-dir/
COPY --from=app /app/ /app/
# PORT 80 as the reference image; Docker >= 20.10 lets non-root bind it
# (net.ipv4.ip_unprivileged_port_start=0). Elsewhere (e.g. CRI-O) set PORT=8080.
# NO_COLOR: crash output without ANSI codes in the log. DENO_V8_FLAGS bounds V8's heap: on
# a cgroup v1 host V8 does not see the container's memory limit (DENO_USE_CGROUPS had no
# effect there: 4 GB heap limit) and grows past it under load; override with -e where the
# container has more memory (docs/operations.md, "Hostile clients and limits").
ENV PORT=80 \
    LOG_FORMAT=json \
    NO_COLOR=1 \
    SWFT_REVISION="${REVISION}" \
    DENO_DIR=/deno-dir/ \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1 \
    DENO_USE_CGROUPS=1 \
    DENO_V8_FLAGS=--max-old-space-size=32,--max-semi-space-size=2
WORKDIR /app
USER 65532:65532
EXPOSE 80
# The permissions are the start task's in deno.json (tests/build_test.ts keeps them equal).
# --no-npm: the healthcheck needs no npm package, and resolving the serve path's costs ~3 MB
# of RSS in a process that runs beside the server every 30 s (about 37 MB peak with it).
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/bin/deno", "run", "--cached-only", "--frozen", "--no-npm", "--allow-net=0.0.0.0,127.0.0.1,localhost,[::],[::1]", "--allow-read=/app/templates,/app/static,/sys/fs/cgroup/memory/memory.limit_in_bytes", "--allow-sys=systemMemoryInfo", "--allow-env=PORT,HOST,BACKGROUND_COLOR,CUSTOM_MESSAGE,HOSTNAME,LOG_LEVEL,LOG_FORMAT,SHUTDOWN_TIMEOUT_MS,METRICS,SHUTDOWN_DELAY_MS,MAX_CONNECTIONS,SWFT_REVISION", "/app/main.ts", "healthcheck"]
ENTRYPOINT ["/usr/bin/deno", "run", "--cached-only", "--frozen", "--allow-net=0.0.0.0,127.0.0.1,localhost,[::],[::1]", "--allow-read=/app/templates,/app/static,/sys/fs/cgroup/memory/memory.limit_in_bytes", "--allow-sys=systemMemoryInfo", "--allow-env=PORT,HOST,BACKGROUND_COLOR,CUSTOM_MESSAGE,HOSTNAME,LOG_LEVEL,LOG_FORMAT,SHUTDOWN_TIMEOUT_MS,METRICS,SHUTDOWN_DELAY_MS,MAX_CONNECTIONS,SWFT_REVISION", "/app/main.ts"]
CMD ["serve"]

# ---------------------------------------------------------------------------------------------
# Runs on the BUILD platform and cross-compiles (deno compile --target) for the target one, so
# a multi-platform BuildKit build needs no emulation here. The legacy builder leaves
# BUILDPLATFORM and TARGETARCH empty: this stage is then linux/amd64 and compiles for itself.
FROM --platform=${BUILDPLATFORM:-linux/amd64} ${DENO_IMAGE} AS builder
ARG TARGETARCH
# BuildKit passes the caller's SOURCE_DATE_EPOCH (the commit's time for a release); deno compile
# records the embedded files' times (denoland/deno#31746), so they are set to it first (0 when
# unset, as under the legacy builder). The working directory it records in source maps
# (denoland/deno#27284) is /app in every build.
ARG SOURCE_DATE_EPOCH
# Air-gapped builds: a denort of this Deno version in the context as ./denort is used
# automatically, or name one already in the image with DENORT_BIN.
ARG DENORT_BIN
ARG DENO_CERT
ARG DENO_TLS_CA_STORE
ENV DENO_DIR=/deno-dir/ \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1 \
    NO_COLOR=1
WORKDIR /app
# The app and its warm caches from the target platform's stage (npm packages are plain
# JavaScript, the same on every platform).
COPY --from=app /deno-dir/ /deno-dir/
COPY --from=app /app/ /app/
COPY tasks/build.ts ./tasks/
COPY tasks/_lib/ ./tasks/_lib/
COPY deno.json denor[t] ./
RUN if [ -z "${DENORT_BIN}" ] && [ -f denort ]; then export DENORT_BIN=/app/denort; fi \
 && if [ -z "${DENO_CERT}" ] && [ -f build-ca.pem ]; then export DENO_CERT=/app/build-ca.pem; fi \
 && find /app /deno-dir -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} + \
 && case "${TARGETARCH}" in \
      "") target="" ;; \
      amd64) target="--target=x86_64-unknown-linux-gnu" ;; \
      arm64) target="--target=aarch64-unknown-linux-gnu" ;; \
      *) echo "Cannot build for TARGETARCH=${TARGETARCH}: deno compile targets amd64 and arm64" >&2; exit 1 ;; \
    esac \
 && deno task build $target

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
ARG CREATED=""
LABEL org.opencontainers.image.title="swft" \
      org.opencontainers.image.description="SWFT demo web service (Deno + Hono), compiled, on distroless" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.created="${CREATED}"
# The single compiled binary (templates and static files embedded, permissions baked in).
COPY --from=builder /app/dist/swft /app/swft
# NO_COLOR: crash output without ANSI codes in the log. For a heap bound on a cgroup v1 host
# see runtime-deno; a compiled binary takes one at build time (deno compile --v8-flags).
ENV PORT=80 \
    LOG_FORMAT=json \
    NO_COLOR=1 \
    SWFT_REVISION="${REVISION}" \
    DENO_USE_CGROUPS=1
WORKDIR /app
USER 65532:65532
EXPOSE 80
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/app/swft", "healthcheck"]
ENTRYPOINT ["/app/swft"]
CMD ["serve"]

# syntax=docker/dockerfile:1
#
# The axum_loan demo (a loan-approval model monitored by inference-monitor) as a container image.
#
#   docker build -t inference-monitor/axum-loan:latest .
#   docker run --rm -p 127.0.0.1:8000:8000 inference-monitor/axum-loan:latest
#
# deploy/docker-compose.yml builds this image for the local monitoring stack, and
# deploy/kubernetes/deployment.yaml runs it (docs/operations.md, docs/scaling.md).

# ---- build: the release binary of the example -------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src

# The whole crate: the example is built from src/, examples/ and the manifests, and Cargo wants
# every target the manifest declares (benches/) to exist. .dockerignore keeps target/, .git/ and
# node_modules out of the context.
COPY . .

# The cache mounts keep the crates.io index, the downloaded crates and the compiled dependencies
# between builds (BuildKit, the default builder). target/ lives in a cache mount, so the binary is
# copied out of it in the same step. --locked: build exactly the versions in Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --example axum_loan \
    && install -D -m 0755 target/release/examples/axum_loan /out/axum_loan

# ---- runtime: a slim Debian with nothing but the binary ----------------------------------------
FROM debian:bookworm-slim AS runtime

# An unprivileged user with a fixed numeric id, so Kubernetes' `runAsNonRoot` can verify it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

# Same path as in the build stage's target/release/examples/. The model's coefficients are
# compiled into the binary: it reads no file and writes none, so a read-only root filesystem works.
COPY --from=build /out/axum_loan /usr/local/bin/axum_loan

# The demo listens on 127.0.0.1:8000 by default. Inside a container that address is the
# container's own loopback: published ports (docker run -p, compose `ports`), other containers
# (Prometheus scraping loan:8000) and Kubernetes probes and Services would all be refused. So the
# container binds every interface; who can reach the port is decided where it is published
# (deploy/docker-compose.yml publishes it on the host's 127.0.0.1 only).
ENV ADDR=0.0.0.0:8000
EXPOSE 8000

USER 10001:10001

# Exec form: the binary is PID 1 and receives SIGTERM itself (docker stop, Kubernetes); it stops
# accepting connections and finishes the requests in flight before exiting.
ENTRYPOINT ["/usr/local/bin/axum_loan"]

# syntax=docker/dockerfile:1
#
# The ccpulse image: `ccpulse serve` by default (see docker-compose.yml and deploy/README.md).
#
#   docker build -t ccpulse .
#   docker run --rm -p 8080:8080 -v $PWD/ccpulse.toml:/etc/ccpulse.toml:ro ccpulse \
#     serve --config /etc/ccpulse.toml --brokers broker:9092 --listen 0.0.0.0:8080
#   (an address other than loopback needs tokens in the configuration: README, "Security")

FROM rust:1-bookworm AS builder
# rdkafka builds its bundled librdkafka from source: a C toolchain and make (cmake for its
# cmake-build feature), plus the headers of the compression and TLS/SASL libraries its
# optional features link against.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config zlib1g-dev libzstd-dev libssl-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache the registry and the target directory between builds (BuildKit); the binary is
# copied out of the cached target in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p ccpulse \
 && install -m 0755 target/release/ccpulse /usr/local/bin/ccpulse

FROM debian:bookworm-slim
# ca-certificates for TLS brokers; curl for health checks (docker-compose.yml checks
# GET /readyz with it; the image has no HEALTHCHECK since `simulate` uses it too);
# the shared libraries librdkafka may link dynamically.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl zlib1g libzstd1 libssl3 libsasl2-2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ccpulse \
 && useradd --system --uid 10001 --gid ccpulse --no-create-home --shell /usr/sbin/nologin ccpulse
COPY --from=builder /usr/local/bin/ccpulse /usr/local/bin/ccpulse
USER ccpulse:ccpulse
EXPOSE 8080
ENTRYPOINT ["ccpulse"]
CMD ["serve"]

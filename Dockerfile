# connector-harness and the connectors' components in one image, for `serve` (deploy/kubernetes/).
#   docker build -t connector-harness .
# The build stages compile the host and the three components at the pinned toolchain. Dependencies are built
# in a layer of their own by cargo-chef, from the manifests and Cargo.lock alone: a change to our sources
# rebuilds only our crates, not wasmtime. The runtime stage is a slim Debian with CA certificates (the host
# verifies TLS against the platform's roots) and a non-root user.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --version 0.1.76 --locked \
 && rustup target add wasm32-wasip2
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p connector-harness --recipe-path recipe.json \
 && cargo chef cook --release --locked --target wasm32-wasip2 -p pingboard-connector -p pingone-connector -p scim-connector --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p connector-harness \
 && cargo build --release --locked --target wasm32-wasip2 -p pingboard-connector -p pingone-connector -p scim-connector

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin harness \
 && mkdir -p /var/cache/connector-harness /var/lib/connector-harness \
 && chown 10001:10001 /var/cache/connector-harness /var/lib/connector-harness
COPY --from=build /src/target/release/connector-harness /usr/local/bin/connector-harness
COPY --from=build /src/target/wasm32-wasip2/release/pingboard_connector.wasm \
                  /src/target/wasm32-wasip2/release/pingone_connector.wasm \
                  /src/target/wasm32-wasip2/release/scim_connector.wasm \
                  /opt/connector-harness/components/
USER 10001:10001
ENV HARNESS_LISTEN=0.0.0.0:8080 \
    HARNESS_LOG_FORMAT=json \
    HARNESS_CACHE_DIR=/var/cache/connector-harness
EXPOSE 8080
ENTRYPOINT ["connector-harness"]
CMD ["serve", "--tenants", "/etc/connector-harness/tenants.toml"]

# Build stage: the release binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY templates templates
RUN cargo build --release --locked && strip target/release/sipprov

# Runtime stage: the binary alone, run by an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin sipprov \
    && install -d -m 0700 -o sipprov /data
COPY --from=build /src/target/release/sipprov /usr/local/bin/sipprov
USER sipprov
ENV SIPPROV_DATA_DIR=/data SIPPROV_LISTEN=0.0.0.0:8081
VOLUME /data
EXPOSE 8081
HEALTHCHECK CMD ["curl", "-fsS", "http://127.0.0.1:8081/healthz"]
ENTRYPOINT ["sipprov"]
CMD ["serve"]

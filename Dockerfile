# pitchgrade: one image for every role (API, workers, migrations).
#
#   docker build -t pitchgrade .
#
# Models are not baked in: mount ./models (after scripts/fetch-models.sh) at
# /app/models, or build with --build-arg FETCH_MODELS=1 to download them into
# the image once (about 170 MB, checked against scripts/models.sha256).

# --- build -------------------------------------------------------------------
FROM rust:1-bookworm AS build
# whisper.cpp is compiled by whisper-rs-sys: cmake + a C++ compiler, and
# libclang for its bindgen step.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake clang libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release --bin pitchgrade \
 && cp target/release/pitchgrade /usr/local/bin/pitchgrade

# --- run ---------------------------------------------------------------------
FROM debian:bookworm-slim
ARG FETCH_MODELS=0
# libstdc++/libgcc for whisper.cpp, CA roots for S3 and hosted backends, curl
# for the health check and the optional model download.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libstdc++6 libgcc-s1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app pitchgrade
WORKDIR /app
COPY --from=build /usr/local/bin/pitchgrade /usr/local/bin/pitchgrade
COPY rubrics ./rubrics
COPY scripts/fetch-models.sh scripts/models.sha256 ./scripts/
RUN if [ "$FETCH_MODELS" = "1" ]; then ./scripts/fetch-models.sh; else mkdir -p models; fi \
 && mkdir -p /app/pitchgrade-data && chown -R pitchgrade /app/pitchgrade-data
USER pitchgrade
# Relative defaults (models/, rubrics/, pitchgrade-data/) resolve under /app.
ENV PITCHGRADE_LOG=info,symphonia=error,symphonia_core=error \
    NO_COLOR=1
ENTRYPOINT ["pitchgrade"]
CMD ["serve"]

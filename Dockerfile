# vmae control plane image (coordinator and vmaectl).
#   docker build -t vmae:0.1.0 .
# The build stage runs the same dependency script and build script as the
# README and CI, so the image cannot drift from what is tested.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN scripts/build.sh -DVMAE_BUILD_TESTS=OFF -DVMAE_BUILD_BENCH=OFF -- vmae-coordinator vmaectl

FROM debian:12-slim AS runtime
COPY scripts/install-deps.sh /usr/local/share/vmae/install-deps.sh
RUN /usr/local/share/vmae/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/vmae --create-home vmae
COPY --from=build /src/build/bin/vmae-coordinator /src/build/bin/vmaectl /usr/local/bin/
COPY configs /usr/local/share/vmae/configs
USER vmae
WORKDIR /var/lib/vmae
EXPOSE 7070 9464
HEALTHCHECK --interval=10s --timeout=3s CMD ["vmaectl", "health"]
ENTRYPOINT ["vmae-coordinator", "--state-dir=/var/lib/vmae/state"]

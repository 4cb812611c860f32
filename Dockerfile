# syntax=docker/dockerfile:1
# vmae image: coordinator, vmaectl, the node agent (vmae-worker) and the
# engine (vmae, which the agent runs as each rank's trainer).
#
#   docker build -t vmae:0.1.0 .                                  # CPU (Debian's LibTorch)
#   docker build --build-arg VARIANT=cuda \
#     --build-context torch=/path/to/libtorch -t vmae:0.1.0-cuda .  # CUDA
#
# The build stages run the same dependency and build scripts as the README
# and CI (scripts/install-deps.sh, scripts/build.sh), so the image cannot
# drift from what is tested. Needs BuildKit (the default builder since
# Docker 23): it builds only the stages VARIANT selects.
#
# CUDA: Debian 12 has no CUDA LibTorch, so the cuda variant takes one from
# the build context named `torch`: an unpacked LibTorch from pytorch.org,
# e.g. libtorch-cxx11-abi-shared-with-deps-1.13.1+cu117.zip (1.13 is the API
# the engine is tested against with Debian's LibTorch 1.13). That archive
# carries the CUDA runtime, cuBLAS, cuDNN and NCCL in lib/; the driver comes
# from the node (NVIDIA container toolkit). CI does not build this variant
# (no GPU, no CUDA LibTorch there): docs/operations.md says so.
ARG VARIANT=cpu

# Replaced by --build-context torch=DIR; empty otherwise, and only the cuda
# stages read it.
FROM scratch AS torch

# ---------------------------------------------------------------- build
FROM debian:12.11 AS build-base
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh

FROM build-base AS build-cpu
RUN scripts/install-deps.sh --worker && rm -rf /var/lib/apt/lists/*
COPY . .
RUN VMAE_BUILD_DIR=build scripts/build.sh -DVMAE_BUILD_WORKER=ON -DVMAE_BUILD_TESTS=OFF \
      -DVMAE_BUILD_BENCH=OFF -- vmae-coordinator vmaectl vmae-worker vmae

FROM build-base AS build-cuda
# The control-plane packages from the CI script, then the engine's other
# libraries by hand: `install-deps.sh --worker` would also install Debian's
# CPU LibTorch, which find_package(Torch) could pick instead of the CUDA one.
RUN scripts/install-deps.sh \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libgloo-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libpng-dev \
      libopenblas0-pthread libopenblas0-openmp \
 && rm -rf /var/lib/apt/lists/*
COPY --from=torch / /opt/libtorch/
RUN test -f /opt/libtorch/share/cmake/Torch/TorchConfig.cmake || { \
      echo "VARIANT=cuda needs a CUDA LibTorch: pass --build-context torch=DIR with DIR an" \
           "unpacked libtorch-cxx11-abi-shared-with-deps-*+cu*.zip from pytorch.org" >&2; exit 1; }
COPY . .
RUN VMAE_BUILD_DIR=build scripts/build.sh -DVMAE_BUILD_WORKER=ON -DVMAE_BUILD_TESTS=OFF \
      -DVMAE_BUILD_BENCH=OFF -DTorch_DIR=/opt/libtorch/share/cmake/Torch \
      -- vmae-coordinator vmaectl vmae-worker vmae

FROM build-${VARIANT} AS build

# ---------------------------------------------------------------- runtime
FROM debian:12.11-slim AS runtime-base
COPY scripts/install-deps.sh /usr/local/share/vmae/install-deps.sh
# The control plane's shared libraries (the CI script's --runtime list),
# plus the engine's, which that list does not cover yet.
RUN /usr/local/share/vmae/install-deps.sh --runtime \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libgloo0 libavformat59 libavcodec59 libswscale6 libavutil57 libpng16-16 \
      libopenblas0-pthread libopenblas0-openmp sqlite3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vmae \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/vmae --create-home vmae

FROM runtime-base AS runtime-cpu
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libtorch1.13 \
 && rm -rf /var/lib/apt/lists/*

FROM runtime-base AS runtime-cuda
# Only the shared objects of the CUDA LibTorch (with its CUDA libraries).
COPY --from=torch /lib/ /opt/libtorch/lib/
ENV LD_LIBRARY_PATH=/opt/libtorch/lib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM runtime-${VARIANT} AS runtime
COPY --from=build /src/build/bin/vmae-coordinator /src/build/bin/vmaectl \
                  /src/build/bin/vmae-worker /src/build/bin/vmae /usr/local/bin/
COPY configs /usr/local/share/vmae/configs
# Fail the build, not the first pod, when a shared library is missing.
# (libcuda.so.1 comes from the node's driver at run time.)
RUN missing=$(ldd /usr/local/bin/vmae-coordinator /usr/local/bin/vmaectl \
                  /usr/local/bin/vmae-worker /usr/local/bin/vmae \
              | grep "not found" | grep -v libcuda.so || true); \
    if [ -n "$missing" ]; then echo "missing shared libraries:"; echo "$missing"; exit 1; fi
USER 10001:10001
WORKDIR /var/lib/vmae
EXPOSE 7070 9464
# The coordinator's gRPC health service (the default entrypoint). With TLS
# set VMAE_HEALTH_TLS_CA (its certificate must name localhost). Kubernetes
# ignores HEALTHCHECK and uses the probes in deploy/kubernetes/.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s \
  CMD vmaectl --server "${VMAE_HEALTH_SERVER:-127.0.0.1:7070}" \
      ${VMAE_HEALTH_TLS_CA:+--tls-ca "$VMAE_HEALTH_TLS_CA"} --timeout 3 health
# Agents run with command: [vmae-worker] (deploy/kubernetes/).
ENTRYPOINT ["vmae-coordinator", "--state-dir=/var/lib/vmae/state"]

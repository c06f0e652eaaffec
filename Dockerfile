# OffRL as a container image: the image `offrl sweep plan` names in its Kubernetes Job (--image, default offrl:latest),
# whose pods run `offrl sweep run FOLDER`.
#
#   docker build -t offrl:latest .          (or: podman build -t offrl:latest . / buildah bud -t offrl:latest .)
#   docker run --rm offrl:latest version
#   docker run --rm -v "$PWD/runs:/work" offrl:latest train --algo iql --dataset pendulum-medium-replay --steps 2000 --out /work/iql
#
# Build stage: the .NET 10 SDK publishes the CLI self-contained for linux-x64, so the runtime stage needs no .NET.
# Runtime stage: Debian 12, whose libmujoco2.2.2 is the MuJoCo that OffRL.MuJoCo binds (hopper, halfcheetah, walker2d);
# .NET 10's own runtime images are Ubuntu 24.04 and Alpine, without that package.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/OffRL.Cli -c Release -r linux-x64 --self-contained -o /out

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmujoco2.2.2 libicu72 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out /opt/offrl
RUN ln -s /opt/offrl/OffRL.Cli /usr/local/bin/offrl
WORKDIR /work
ENTRYPOINT ["offrl"]
CMD ["--help"]

#!/usr/bin/env bash
# README's test command. On a fresh machine with only the .NET SDK it first installs what the tests need
# (scripts/install-deps.sh: idempotent, a few seconds when everything is there), then runs the whole suite.
# Extra arguments go to dotnet test (e.g. --filter FullyQualifiedName~Bandits).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
bash scripts/install-deps.sh
dotnet test OffRL.sln -c Release "$@"

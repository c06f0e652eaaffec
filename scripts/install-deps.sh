#!/usr/bin/env bash
# Installs the system packages OffRL needs. Safe to run repeatedly.
# Today: only the .NET 10 SDK, which the machine image provides. Native libraries that later parts
# need (libmujoco2.2.2 for src/OffRL.MuJoCo) are added here, never assumed.
set -euo pipefail
if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-deps: the .NET 10 SDK is required (dotnet not found on PATH)" >&2
  exit 1
fi
major=$(dotnet --version | cut -d. -f1)
if [ "$major" -lt 10 ]; then
  echo "install-deps: .NET SDK 10 or newer is required, found $(dotnet --version)" >&2
  exit 1
fi
echo "install-deps: dotnet $(dotnet --version) OK"

#!/usr/bin/env bash
# Installs the system packages OffRL needs. Safe to run repeatedly.
#  - the .NET 10 SDK with the ASP.NET Core runtime (provided by the machine image; checked here)
#  - libmujoco2.2.2 for src/OffRL.MuJoCo (Debian package; P/Invoke binds exactly this version)
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
# The decision service (src/OffRL.Serving) runs on the ASP.NET Core shared framework, part of the full SDK.
# (grep reads its whole input, never -q: under pipefail an early exit of grep -q can fail the pipeline with SIGPIPE)
if ! dotnet --list-runtimes | grep '^Microsoft.AspNetCore.App 10\.' >/dev/null; then
  echo "install-deps: the ASP.NET Core 10 runtime is missing (install the full .NET 10 SDK, e.g. Debian package dotnet-sdk-10.0)" >&2
  exit 1
fi
echo "install-deps: ASP.NET Core runtime OK"

if ! ldconfig -p | grep 'libmujoco.so.2.2.2' >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing libmujoco2.2.2"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libmujoco2.2.2 >/dev/null
fi
ldconfig -p | grep 'libmujoco.so.2.2.2' >/dev/null || { echo "install-deps: libmujoco2.2.2 did not install" >&2; exit 1; }
echo "install-deps: libmujoco 2.2.2 OK"

# PostgreSQL server binaries for the decision log's PostgreSQL backend tests (the tests start a private server of
# their own on 127.0.0.1; nothing is configured system-wide). Optional: without them those tests say so and pass.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing postgresql"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null; } \
    || echo "install-deps: postgresql could not be installed; its backend tests will be skipped" >&2
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && echo "install-deps: postgresql OK" || true

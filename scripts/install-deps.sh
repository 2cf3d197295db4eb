#!/usr/bin/env bash
# Installs the Debian 12 packages libderp needs that are not installed yet, and nothing else.
#   scripts/install-deps.sh build   — what building the library and examples needs
#   scripts/install-deps.sh test    — that, plus Catch2, clang-14 + libFuzzer (sanitizer and fuzz builds), pytest
#                                     and what building and installing the Python wheel offline needs (pip,
#                                     setuptools, wheel, venv),
#                                     abigail-tools (the ABI baseline test), doxygen (the API reference test),
#                                     iproute2 and nftables (the NAT lab: scripts/nat-lab.sh)
# Runs apt-get as root, through sudo when not root, or prints the command to run when neither works.
set -euo pipefail

profile=${1:-build}
build_packages=(g++ cmake make pkg-config libuv1-dev libmbedtls-dev libsodium-dev nlohmann-json3-dev libwslay-dev)
test_packages=(catch2 clang-14 libfuzzer-14-dev libclang-rt-14-dev python3 python3-pytest abigail-tools doxygen
               python3-pip python3-setuptools python3-wheel python3-venv iproute2 nftables)

case "$profile" in
  build) wanted=("${build_packages[@]}") ;;
  test) wanted=("${build_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#wanted[@]} packages for '$profile' are installed"
  exit 0
fi

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt=(sudo apt-get)
else
  echo "deps: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"

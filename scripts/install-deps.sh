#!/usr/bin/env bash
# Installs the Debian packages vfed needs, only those that are missing. On a
# fresh Debian 12 (even a minbase root) Rust is the one thing to bring yourself;
# scripts/fresh-check.sh proves this list complete (CI runs it).
#
#   scripts/install-deps.sh build   what building needs: protoc and the well-known
#                                   .proto files (vfed-proto and etcd-client's build
#                                   scripts), a C toolchain (ring), make, CA roots
#   scripts/install-deps.sh test    and everything the tests need (the default)
#   scripts/install-deps.sh bench   the tests' and what the benchmarks add (the
#                                   recording benchmark's loop-mounted ext4 and fsfreeze)
#
# Silent when everything is present. As root: one `apt-get update`, then one
# `apt-get install -y --no-install-recommends` of exactly the missing packages.
# Not root: prints the command to run and exits 1.
set -euo pipefail

profile=${1:-test}

# package:command -- the package is present when `command` is on PATH or
# `dpkg -s` says it is installed ("-" = check dpkg only).
build_deps=(
  "protobuf-compiler:protoc"
  # google/protobuf/*.proto, imported by etcd-client's protos.
  "libprotobuf-dev:-"
  # TLS roots for cargo's downloads from crates.io.
  "ca-certificates:-"
  "make:make"
)
# Rust links with the system C toolchain and ring compiles C: only checked
# (and installed) when no C compiler is there at all.
toolchain_deps=(
  "gcc:cc"
  "libc6-dev:-"
)
test_deps=(
  "pkg-config:pkg-config"
  # kill(1) (the harness stops peers with it) and curl (live media diagnostics).
  "procps:-"
  "curl:curl"
  # The store tests and the etcd-backed node tests start a real etcd.
  "etcd-server:etcd"
  "etcd-client:etcdctl"
  # Media tests (next milestone): GStreamer's RTSP server as the camera,
  # ffprobe/ffmpeg as the viewer (see docs/operations.md).
  "gstreamer1.0-tools:gst-launch-1.0"
  "gstreamer1.0-plugins-base:-"
  "gstreamer1.0-plugins-good:-"
  "gstreamer1.0-plugins-bad:-"
  "gstreamer1.0-plugins-ugly:-"
  "gstreamer1.0-rtsp:-"
  "gir1.2-gst-rtsp-server-1.0:-"
  # The peers run with /usr/bin/python3 (the python3 first on PATH may lack gi).
  "python3:-"
  "python3-gi:-"
  "ffmpeg:ffprobe"
  # chattr: the README tour's test clears the seals (FS_IMMUTABLE_FL) the
  # demo puts on its recordings, so its temporary directory can be removed.
  "e2fsprogs:chattr"
  # The Helm chart's offline test makes a virtualenv for its PyPI tools
  # (scripts/chart-test.sh).
  "python3-venv:-"
  # GB/T 28181 device access: SIPp plays the quirky devices (services/gb28181/tests).
  "sip-tester:sipp"
)

# The recording benchmark stalls the archive's disk: an ext4 image on a loop
# device (mkfs.ext4, mount, losetup) frozen with fsfreeze.
bench_deps=(
  "e2fsprogs:mkfs.ext4"
  "util-linux:fsfreeze"
  "mount:losetup"
)

case "$profile" in
  build) wanted=("${build_deps[@]}") ;;
  test) wanted=("${build_deps[@]}" "${test_deps[@]}") ;;
  bench) wanted=("${build_deps[@]}" "${test_deps[@]}" "${bench_deps[@]}") ;;
  -h | --help)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 0
    ;;
  *)
    echo "install-deps.sh: unknown profile '$profile' (use build, test or bench)" >&2
    exit 2
    ;;
esac
if ! command -v cc >/dev/null 2>&1; then
  wanted+=("${toolchain_deps[@]}")
fi

installed() {
  local status
  status=$(dpkg -s "$1" 2>/dev/null) || return 1
  [[ $status == *$'\nStatus: install ok installed'* || $status == 'Status: install ok installed'* ]]
}

missing=()
for entry in "${wanted[@]}"; do
  package=${entry%%:*}
  command=${entry#*:}
  if [[ $command != "-" ]] && command -v "$command" >/dev/null 2>&1; then
    continue
  fi
  if installed "$package"; then
    continue
  fi
  missing+=("$package")
done

cargo_bin=${CARGO:-cargo}
if ! command -v "$cargo_bin" >/dev/null 2>&1; then
  echo "install-deps.sh: '$cargo_bin' not found: vfed needs Rust 1.95 (rust-toolchain.toml);" >&2
  echo "  install it with rustup (https://rustup.rs); Debian 12's rustc is too old." >&2
  exit 1
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "  install them as root:" >&2
  echo "    apt-get update && $install_cmd" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps.sh: missing packages (${missing[*]}) and no apt-get here;" >&2
  echo "  install their equivalents with your package manager." >&2
  exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Proves scripts/install-deps.sh complete on a fresh machine. On a throwaway
# Debian 12 minbase root (debootstrap) that has nothing but this machine's Rust
# toolchain (rustup and cargo homes, bind-mounted read-only, as is the
# repository), it runs `install-deps.sh build`, compiles the crates whose build
# scripts need system files (vfed-proto, etcd-client, ring), then runs
# `install-deps.sh test` and checks every external peer the tests use. Fails
# naming each missing piece and the package that brings it. The root is
# removed afterwards. As root; CI runs it before `make test`.
#
#   scripts/fresh-check.sh                      the check
#   scripts/fresh-check.sh --control PACKAGE    first the same check with PACKAGE
#                                               left out of install-deps.sh: it must
#                                               fail naming PACKAGE (CI: libprotobuf-dev)
#   scripts/fresh-check.sh --install-deps FILE  check FILE instead of install-deps.sh
#
# Environment: VFED_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# TMPDIR (where the root is made, default /var/tmp), CARGO_BUILD_JOBS (default
# 2). Logs of the last run: target/fresh-check/.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mirror=${VFED_DEBIAN_MIRROR:-http://deb.debian.org/debian}
logs=$repo/target/fresh-check
install_deps=$repo/scripts/install-deps.sh
control=

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
die() {
  echo "fresh-check: $*" >&2
  exit 1
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --control)
      [[ $# -ge 2 && $2 =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || die "--control needs a Debian package name"
      control=$2
      shift 2
      ;;
    --install-deps)
      [[ $# -ge 2 && -f $2 ]] || die "--install-deps needs an existing file"
      install_deps=$(realpath "$2")
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "fresh-check: unknown argument '$1'" >&2
      usage >&2
      exit 2
      ;;
  esac
done

if [[ -n $control ]] && ! grep -qE "^[[:space:]]*\"$control:" "$install_deps"; then
  die "--control $control: no entry \"$control:...\" in $install_deps"
fi
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot and bind mounts)"
for tool in chroot findmnt mount umount; do
  command -v "$tool" >/dev/null || die "'$tool' not found"
done
if ! command -v debootstrap >/dev/null; then
  echo "fresh-check: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi

# The toolchain is bind-mounted at the same paths, so rustup's proxies and
# the registry cache work unchanged inside the root.
rustup_home=$(rustup show home 2>/dev/null || echo "${RUSTUP_HOME:-$HOME/.rustup}")
cargo_home=${CARGO_HOME:-$HOME/.cargo}
for dir in "$rustup_home" "$cargo_home"; do
  [[ -d $dir ]] || die "toolchain directory '$dir' not found"
  [[ $dir =~ ^/[A-Za-z0-9._/-]+$ ]] || die "toolchain directory '$dir': only plain path characters supported"
  case ${dir%/} in
    "" | /usr | /usr/local | /etc | /var | /opt | /bin | /lib | /src | /tmp | /dev | /proc)
      die "toolchain directory '$dir' would hide the root's own"
      ;;
  esac
done
[[ -x $cargo_home/bin/cargo ]] || die "no cargo in $cargo_home/bin (vfed needs Rust via rustup)"

# Everything Cargo.lock names, in the registry cache: the root compiles offline.
(cd "$repo" && "$cargo_home/bin/cargo" fetch --locked -q) || die "cargo fetch --locked failed"

parent=${TMPDIR:-/var/tmp}
[[ $parent =~ ^/[A-Za-z0-9._/-]+$ ]] || die "TMPDIR '$parent': only plain path characters supported"
work=$(mktemp -d "$parent/vfed-fresh-check.XXXXXX")
root=$work/root
rm -rf "$logs"
mkdir -p "$logs"

# Mounts at or under the root, deepest first.
mounts_under_root() {
  findmnt -rn -o TARGET | awk -v r="$root" '$0 == r || index($0, r "/") == 1' | sort -r
}
cleanup() {
  local status=$? proc target left
  trap - EXIT INT TERM
  set +e
  # Whatever runs inside the root was started by this script (a peer, dpkg).
  for proc in /proc/[0-9]*; do
    [[ $(readlink "$proc/root" 2>/dev/null) == "$root" ]] && kill -9 "${proc#/proc/}" 2>/dev/null
  done
  for target in $(mounts_under_root); do
    umount "$target" 2>/dev/null || { sleep 1 && umount "$target"; } || umount -l "$target"
  done
  left=$(mounts_under_root)
  if [[ -n $left ]]; then
    echo "fresh-check: still mounted, $work NOT removed:" >&2
    echo "$left" >&2
    exit 1
  fi
  rm -rf --one-file-system "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$SECONDS
step() { printf 'fresh-check: [%3ds] %s\n' $((SECONDS - started)) "$*"; }

step "debootstrap --variant=minbase bookworm ($mirror)"
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$logs/debootstrap.log" 2>&1; then
  tail -20 "$logs/debootstrap.log" >&2
  die "debootstrap failed (log: $logs/debootstrap.log)"
fi
# A throwaway root: no services started by package scripts, no fsync per file,
# no documentation or translations.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/fresh-check" <<'EOF'
force-unsafe-io
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/info/*
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/99fresh-check"

bind() { # bind SOURCE TARGET-IN-ROOT: read-only bind mount
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mount -o remount,bind,ro "$root$2"
}
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
bind "$repo" /src
bind "$rustup_home" "$rustup_home"
bind "$cargo_home" "$cargo_home"

# Nothing of this machine's environment goes in: only the toolchain's paths.
in_root() {
  env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH="$cargo_home/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    RUSTUP_HOME="$rustup_home" CARGO_HOME="$cargo_home" RUSTUP_AUTO_INSTALL=0 \
    CARGO_TARGET_DIR=/var/tmp/vfed-target CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" \
    CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never \
    chroot "$root" "$@"
}

# profile|package(s)|what|check run in the root by bash (exit 0: present)
checks=$(
  cat <<'EOF'
build|protobuf-compiler|protoc|command -v protoc
build|libprotobuf-dev|google/protobuf/descriptor.proto (imported by etcd-client's protos)|test -f /usr/include/google/protobuf/descriptor.proto
build|gcc|a C compiler (rustc links with cc; ring compiles C)|command -v cc
build|libc6-dev|a C program compiles and links|! command -v cc || { printf '#include <stdio.h>\nint main(void) { return puts("") < 0; }\n' | cc -x c - -o /tmp/fresh-c && /tmp/fresh-c; }
build|ca-certificates|TLS roots (cargo downloads crates over https)|test -s /etc/ssl/certs/ca-certificates.crt
build|make|make (the README's commands)|command -v make
test|pkg-config|pkg-config|command -v pkg-config
test|etcd-server|etcd|etcd --version
test|etcd-client|etcdctl|etcdctl version
test|ffmpeg|ffprobe (the viewer)|ffprobe -version
test|ffmpeg|ffmpeg (encoder, viewer)|ffmpeg -version
test|procps|kill(1) (stops the peers)|test -x /usr/bin/kill
test|curl|curl|curl --version
test|python3|/usr/bin/python3 (runs the GStreamer peers)|test -x /usr/bin/python3
test|python3-gi gir1.2-gst-rtsp-server-1.0|GStreamer's RTSP server from /usr/bin/python3 with gi|/usr/bin/python3 -c 'import gi; gi.require_version("Gst", "1.0"); gi.require_version("GstRtsp", "1.0"); gi.require_version("GstRtspServer", "1.0"); from gi.repository import Gst, GstRtsp, GstRtspServer'
test|gstreamer1.0-tools|gst-inspect-1.0|command -v gst-inspect-1.0
test|python3-venv|a virtualenv with pip (the Helm chart test's tools)|/usr/bin/python3 -m venv /tmp/fresh-venv && /tmp/fresh-venv/bin/pip --version
EOF
)
# The GStreamer elements in the peers' pipelines: tests/peers/rtsp_camera.py,
# bench/peers/rtsp_relay.py, ../shared/peers/rtsp-file-camera.py (h264|h265).
elements=$(
  cat <<'EOF'
libgstreamer1.0-0 filesrc capsfilter
gstreamer1.0-plugins-base videotestsrc appsrc appsink
gstreamer1.0-plugins-good multifilesrc qtdemux rtph264pay rtph265pay rtph264depay rtph265depay rtspsrc
gstreamer1.0-plugins-bad h264parse h265parse x265enc
gstreamer1.0-plugins-ugly x264enc
EOF
)

missing=()
# check_pieces PROFILE: appends "PACKAGE: WHAT" to missing for each check that fails.
check_pieces() {
  local profile package what cmd name
  while IFS='|' read -r profile package what cmd; do
    [[ $profile == "$1" ]] || continue
    in_root bash -c "$cmd" </dev/null >/dev/null 2>&1 || missing+=("$package: $what")
  done <<<"$checks"
  [[ $1 == test ]] || return 0
  if ! in_root bash -c 'command -v gst-inspect-1.0' </dev/null >/dev/null; then
    missing+=("(GStreamer elements not checked: no gst-inspect-1.0)")
    return 0
  fi
  while read -r package names; do
    for name in $names; do
      in_root gst-inspect-1.0 --exists "$name" </dev/null || missing+=("$package: GStreamer element $name")
    done
  done <<<"$elements"
}

# The test camera serves H.264 and H.265 that ffprobe decodes (all inside the root).
check_camera() {
  local log=$logs/camera-$1.log
  # shellcheck disable=SC2016 # expanded inside the root
  in_root bash -c '
    /usr/bin/python3 /src/tests/peers/rtsp_camera.py --port 0 >/tmp/camera.out 2>/tmp/camera.err &
    camera=$!
    trap "kill $camera 2>/dev/null; wait $camera 2>/dev/null" EXIT
    for _ in $(seq 150); do grep -q "^READY" /tmp/camera.out && break; sleep 0.2; done
    port=$(awk "/^READY/ { print \$2 }" /tmp/camera.out)
    [[ -n $port ]] || { echo "the camera did not start:"; cat /tmp/camera.err; exit 1; }
    for mount in h264 h265; do
      got=$(timeout 60 ffprobe -v error -rtsp_transport tcp -read_intervals %+#5 -select_streams v:0 \
        -show_entries stream=codec_name -of csv=p=0 "rtsp://127.0.0.1:$port/$mount" 2>&1)
      echo "$mount: $got"
      [[ $got == h264 || $got == hevc ]] || exit 1
    done' </dev/null >"$log" 2>&1 && return 0
  missing+=("(the test camera did not serve H.264 and H.265 to ffprobe: $(tr '\n' ' ' <"$log"))")
}

# Cargo's words for a missing system file, and the package that has it.
hints=$(
  cat <<'EOF'
libprotobuf-dev|google/protobuf/[A-Za-z_]+\.proto: File not found
protobuf-compiler|Could not find `protoc`
gcc|linker `cc` not found|failed to find tool "cc"
libc6-dev|cannot find (crt1\.o|crti\.o|-lc\b)|stdio\.h: No such file|string\.h: No such file
EOF
)
# compile TAG ARGS...: cargo check in the root; a failure names the package it hints at.
compile() {
  local log=$logs/cargo-$1.log package pattern named=
  shift
  in_root bash -c 'cd /src && cargo check --locked --offline "$@"' cargo "$@" </dev/null >"$log" 2>&1 &&
    return 0
  while IFS='|' read -r package pattern; do
    if grep -qE "$pattern" "$log"; then
      missing+=("$package: cargo check $* says: $(grep -m1 -oE "$pattern" "$log" | sed -n 1p)")
      named=1
    fi
  done <<<"$hints"
  [[ -n $named ]] || missing+=("(cargo check $* failed, see $log: $(grep -m1 -E '^error' "$log" || tail -1 "$log"))")
}

# run_install PROFILE FILE TAG
run_install() {
  local log=$logs/install-deps-$3-$1.log
  if in_root bash "$2" "$1" </dev/null >"$log" 2>&1; then
    step "  install-deps.sh $1: $(grep -m1 '^install-deps.sh: installing' "$log" || echo 'nothing to install')"
  else
    missing+=("(install-deps.sh $1 failed: $(tail -3 "$log" | tr '\n' ' '))")
  fi
}

# fresh_machine FILE TAG [camera]: install-deps build, compile, install-deps
# test, the peers (and the test camera end to end).
fresh_machine() {
  missing=()
  step "$2: install-deps.sh build"
  run_install build "$1" "$2"
  check_pieces build
  step "$2: cargo check -p vfed-proto; cargo check -p etcd-client -p ring"
  compile "$2-proto" -p vfed-proto
  # Non-member crates go alone: -p next to a member selects only its graph.
  compile "$2-etcd-ring" -p etcd-client -p ring
  step "$2: install-deps.sh test"
  run_install test "$1" "$2"
  check_pieces test
  [[ ${3:-} == camera ]] || return 0
  step "$2: the test camera (H.264, H.265) to ffprobe"
  check_camera "$2"
}
report_missing() {
  local line
  for line in "${missing[@]}"; do echo "  $line"; done
}

cp "$install_deps" "$root/tmp/install-deps.sh"
if [[ -n $control ]]; then
  grep -vE "^[[:space:]]*\"$control:" "$install_deps" >"$root/tmp/install-deps-control.sh"
  step "control: the same check without $control in install-deps.sh"
  fresh_machine /tmp/install-deps-control.sh control
  report_missing
  named=
  for line in "${missing[@]}"; do
    [[ $line == "$control:"* ]] && named=1
  done
  [[ -n $named ]] || die "FAILED: without $control in install-deps.sh the check did not name $control"
  step "control ok: the check names $control when install-deps.sh lacks it"
fi

fresh_machine /tmp/install-deps.sh fresh camera
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "fresh-check: FAILED: on a fresh Debian 12 after install-deps.sh, missing:" >&2
  report_missing >&2
  echo "  (logs: $logs)" >&2
  exit 1
fi
step "ok: install-deps.sh installs everything the build and the tests need on a fresh Debian 12"

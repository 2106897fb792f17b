#!/usr/bin/env bash
# Set up everything multiscale needs, idempotently:
#   1. Debian build packages for GPAW (envs/debian-packages.txt),
#   2. a Python >= 3.12 (one already present, else built with pyenv from Debian's
#      pristine source tarball, sha256-verified),
#   3. .venv with the pinned stack (envs/requirements.txt) and the project (pip install -e).
# A stamp (.venv/.multiscale-setup) records the digest of the inputs; when it matches, nothing is redone.
#
# Usage: envs/setup.sh [--check]     (--check: only report what is missing, change nothing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.multiscale-setup"
PY_BUILD_VERSION="3.13.5"
# sha256 of Python-3.13.5.tar.xz (upstream release; identical to Debian trixie's python3.13_3.13.5.orig.tar.xz
# and to pyenv's python-build definition for 3.13.5).
PY_BUILD_SHA256="93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640"
CHECK_ONLY=0
WITH_TEST=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK_ONLY=1 ;;
    --test) WITH_TEST=1 ;;   # also the packages the test suite needs (envs/debian-packages-test.txt)
    *) echo "usage: envs/setup.sh [--check] [--test]" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

inputs_digest() {
  cat "$ROOT/envs/requirements.txt" "$ROOT/envs/debian-packages.txt" "$ROOT/pyproject.toml" \
    "$ROOT/envs/setup.sh" "$ROOT/envs/gpaw-siteconfig.py" "$ROOT/envs/check_stack.py" | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------- Debian packages
debian_packages() {
  grep -vE '^\s*(#|$)' "$ROOT/envs/debian-packages.txt"
  [ "$WITH_TEST" -eq 1 ] && grep -vE '^\s*(#|$)' "$ROOT/envs/debian-packages-test.txt"
  return 0
}
missing_debs=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $(debian_packages); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_debs+=("$p")
  done
fi

# Fast path: everything already set up for exactly these inputs.
if [ "${#missing_debs[@]}" -eq 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(inputs_digest)" ] \
   && [ -x "$VENV/bin/multiscale" ] && [ "$CHECK_ONLY" -eq 0 ]; then
  exit 0
fi

is_debian=0; [ -f /etc/debian_version ] && is_debian=1
is_root=0; [ "$(id -u)" -eq 0 ] && is_root=1

# ---------------------------------------------------------------- Python >= 3.12
py_ok() { "$1" -c 'import sys, venv, ssl, sqlite3, lzma, bz2, ctypes; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
find_python() {
  local c
  for c in python3.14 python3.13 python3.12 python3; do
    if command -v "$c" >/dev/null 2>&1 && py_ok "$(command -v "$c")"; then command -v "$c"; return 0; fi
  done
  # Interpreters installed by pyenv but not selected by its shims.
  if command -v pyenv >/dev/null 2>&1; then
    for c in $(ls -d "$(pyenv root)"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
      if [ -x "$c/bin/python3" ] && py_ok "$c/bin/python3"; then echo "$c/bin/python3"; return 0; fi
    done
  fi
  return 1
}
PYTHON="$(find_python || true)"

# ---------------------------------------------------------------- report what cannot be done here
if [ "$is_debian" -eq 0 ] || [ "$is_root" -eq 0 ]; then
  problems=()
  [ "${#missing_debs[@]}" -gt 0 ] && problems+=("Debian packages: ${missing_debs[*]}  (as root: apt-get install ${missing_debs[*]})")
  if [ "$is_debian" -eq 0 ]; then
    for lib in xc openblas lapack; do
      ldconfig -p 2>/dev/null | grep -q "lib$lib\.so" || problems+=("library lib$lib with headers (e.g. Debian: lib$lib-dev; Fedora: $lib-devel; conda: $lib)")
    done
    command -v gcc >/dev/null 2>&1 || problems+=("a C compiler: gcc")
  fi
  [ -z "$PYTHON" ] && problems+=("Python >= 3.12 with venv/ssl/sqlite3 (e.g. 'pyenv install $PY_BUILD_VERSION', or your distribution's python3.12)")
  if [ "${#problems[@]}" -gt 0 ]; then
    why="not running as root"; [ "$is_debian" -eq 0 ] && why="not a Debian system"
    printf '[setup] ERROR: cannot install system prerequisites automatically (%s). Missing:\n' "$why" >&2
    for p in "${problems[@]}"; do printf '  - %s\n' "$p" >&2; done
    printf 'Install them, then run "make setup" again.\n' >&2
    exit 1
  fi
fi

if [ "$CHECK_ONLY" -eq 1 ]; then
  say "Debian packages missing: ${missing_debs[*]:-none}"; say "python: ${PYTHON:-missing (will build $PY_BUILD_VERSION)}"
  exit 0
fi

if [ "${#missing_debs[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing_debs[*]}"
  # services in these packages must not start: nothing here is meant to run as a system daemon
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.multiscale
  chmod +x /usr/sbin/policy-rc.d.multiscale
  [ -e /usr/sbin/policy-rc.d ] || ln -s /usr/sbin/policy-rc.d.multiscale /usr/sbin/policy-rc.d
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_debs[@]}"
  [ "$(readlink /usr/sbin/policy-rc.d 2>/dev/null)" = /usr/sbin/policy-rc.d.multiscale ] && rm -f /usr/sbin/policy-rc.d
  rm -f /usr/sbin/policy-rc.d.multiscale
fi

# ---------------------------------------------------------------- build Python if none is usable
build_python() {
  command -v pyenv >/dev/null 2>&1 || die "no Python >= 3.12 and no pyenv to build one. Install python3.12+ or pyenv, then rerun 'make setup'."
  local work tarball mirror
  work="$(mktemp -d)"; trap 'rm -rf "$work"' RETURN
  # Debian's trixie *source* suite carries the pristine upstream tarball; use a private apt state
  # so the system's apt configuration is not touched.
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  [ -n "$mirror" ] || mirror="$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  [ -n "$mirror" ] || die "cannot find the configured Debian mirror in /etc/apt/sources.list.d/debian.sources; install python3.12+ yourself."
  mkdir -p "$work/lists/partial" "$work/src"
  echo "deb-src $mirror trixie main" > "$work/sources.list"
  local aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists")
  say "fetching Python $PY_BUILD_VERSION source from Debian (trixie source suite)"
  apt-get "${aptopts[@]}" update -qq
  (cd "$work/src" && apt-get "${aptopts[@]}" source --download-only "python${PY_BUILD_VERSION%.*}" >/dev/null)
  tarball="$(ls "$work"/src/python*_"$PY_BUILD_VERSION".orig.tar.xz 2>/dev/null | head -1)"
  [ -n "$tarball" ] || die "Debian's source package did not contain python${PY_BUILD_VERSION%.*}_$PY_BUILD_VERSION.orig.tar.xz"
  echo "$PY_BUILD_SHA256  $tarball" | sha256sum -c --quiet - || die "checksum mismatch for $tarball"
  mkdir -p "$(pyenv root)/cache"
  cp "$tarball" "$(pyenv root)/cache/Python-$PY_BUILD_VERSION.tar.xz"
  say "building Python $PY_BUILD_VERSION with pyenv (about 2-3 min on 2 cores)"
  pyenv install -s "$PY_BUILD_VERSION"
}
if [ -z "$PYTHON" ]; then
  build_python
  PYTHON="$(pyenv root)/versions/$PY_BUILD_VERSION/bin/python3"
  py_ok "$PYTHON" || die "the built Python at $PYTHON does not work"
fi
say "python: $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"

# ---------------------------------------------------------------- virtual environment
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then
  say "existing .venv uses Python < 3.12: recreating it"; rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# Order matters. MPICH first: GPAW compiles with the venv's mpicc/mpicxx. dolfinx-solver-real next: GPAW is
# linked against the OpenBLAS it bundles (envs/gpaw-siteconfig.py), so one process holds one BLAS.
export PATH="$VENV/bin:$PATH"
pin() { grep -E "^($1)==" "$ROOT/envs/requirements.txt"; }
"$VENV/bin/python" -m pip install -q $(pin 'mpich|mpi4py|numpy')
"$VENV/bin/python" -m pip install -q $(pin 'dolfinx-solver-real')
MULTISCALE_BLAS_DIR="$("$VENV/bin/python" -c 'import importlib.util as u, os; print(os.path.join(os.path.dirname(u.find_spec("dolfinx_solver").origin), "lib"))')"
export MULTISCALE_BLAS_DIR GPAW_CONFIG="$ROOT/envs/gpaw-siteconfig.py"
if ! readelf -d "$VENV"/lib/python3*/site-packages/_gpaw*.so 2>/dev/null | grep -q "$MULTISCALE_BLAS_DIR"; then
  say "building GPAW against dolfinx-solver-real's OpenBLAS (~30 s)"
  # --no-cache-dir: a wheel cached from another build configuration must not be reused
  "$VENV/bin/python" -m pip install -q --no-cache-dir --force-reinstall --no-deps $(pin 'gpaw')
fi
say "installing the pinned stack (envs/requirements.txt)"
"$VENV/bin/python" -m pip install -q -r "$ROOT/envs/requirements.txt"
"$VENV/bin/python" -m pip install -q --no-deps -e "$ROOT"
# The whole stack must work in ONE process on one MPI and one BLAS: run each code, not just import it.
(cd "$(mktemp -d)" && OMP_NUM_THREADS=1 "$VENV/bin/python" "$ROOT/envs/check_stack.py") \
  || die "the installed stack does not run in one process (see the error above)"
inputs_digest > "$STAMP"
say "done: $VENV"

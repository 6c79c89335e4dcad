#!/bin/sh
# provision's quick start on a fresh Debian 12 / Ubuntu 24.04 machine with python3.
#
#   ./bootstrap.sh apply [ARGS]   run `provision apply [ARGS]` (default playbook: workstation, here)
#   ./bootstrap.sh test [ARGS]    run the whole test suite, lab tests included (pytest ARGS)
#   ./bootstrap.sh COMMAND ...    any other provision command (plan, facts, ...)
#
# It needs root (it re-runs itself with sudo when it can), creates .venv beside itself (a virtual
# environment, so PEP 668's "externally managed" system Python is never touched), installing
# python3-venv with apt if the system lacks it, and installs provision into it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E "$0" "$@"
  fi
  echo "bootstrap.sh: run this as root (sudo is not installed)" >&2
  exit 2
fi

say() { printf 'bootstrap: %s\n' "$*" >&2; }

apt_install() {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  say "installing apt packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q update >/dev/null
  # shellcheck disable=SC2086
  apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends $missing </dev/null >/dev/null
}

venv() {
  extra=$1
  if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv >/dev/null 2>&1; then
      rm -rf .venv
      apt_install python3-venv
      python3 -m venv .venv
    fi
  fi
  stamp=".venv/.installed$extra"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing provision into .venv (first run only)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extra"
    touch "$stamp"
  fi
}

cmd=${1:-apply}
[ $# -gt 0 ] && shift
case "$cmd" in
  test)
    apt_install debootstrap openssh-client ca-certificates gcc libc6-dev libpam0g-dev gpg strace
    venv "[test]"
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    venv ""
    exec .venv/bin/provision "$cmd" "$@"
    ;;
esac

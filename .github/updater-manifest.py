#!/usr/bin/env python3
"""Writes latest.json, the manifest the desktop updater reads, for one release.

usage: updater-manifest.py TAG DOWNLOAD_BASE_URL SIG_DIR  (JSON on stdout)

Each *.sig in SIG_DIR is the updater signature of the release asset of the same name without .sig. The
updater looks up "<os>-<arch>-<installer>" first, then "<os>-<arch>", so both are written.
"""

import datetime
import json
import pathlib
import sys

# Asset name ending -> manifest keys it serves. The macOS build is universal: one archive for both arches.
KEYS = [
    (".AppImage", ["linux-x86_64", "linux-x86_64-appimage"]),
    (".deb", ["linux-x86_64-deb"]),
    (".rpm", ["linux-x86_64-rpm"]),
    (".app.tar.gz", ["darwin-aarch64", "darwin-x86_64", "darwin-aarch64-app", "darwin-x86_64-app"]),
    ("-setup.exe", ["windows-x86_64", "windows-x86_64-nsis"]),
    (".msi", ["windows-x86_64-msi"]),
]


def manifest(tag: str, base_url: str, sig_dir: pathlib.Path) -> dict:
    platforms = {}
    for sig in sorted(sig_dir.glob("*.sig")):
        asset = sig.name[: -len(".sig")]
        keys = next((keys for ending, keys in KEYS if asset.endswith(ending)), None)
        if keys is None:
            sys.exit(f"updater-manifest: no platform for {asset}")
        entry = {"signature": sig.read_text().strip(), "url": f"{base_url}/{asset}"}
        for key in keys:
            platforms[key] = entry
    if not platforms:
        sys.exit(f"updater-manifest: no .sig files in {sig_dir}")
    return {
        "version": tag.removeprefix("v"),
        "notes": f"p2pchat {tag}",
        "pub_date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platforms": platforms,
    }


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(json.dumps(manifest(sys.argv[1], sys.argv[2].rstrip("/"), pathlib.Path(sys.argv[3])), indent=2))

// swift-tools-version:5.5

import PackageDescription

let package = Package(
  name: "tauri-plugin-push-call",
  platforms: [
    .macOS(.v10_13),
    .iOS(.v14),
  ],
  products: [
    // The name the plugin's build script links (its crate name).
    .library(
      name: "tauri-plugin-push-call",
      type: .static,
      targets: ["tauri-plugin-push-call"])
  ],
  dependencies: [
    .package(name: "Tauri", path: "../.tauri/tauri-api")
  ],
  targets: [
    // The C declarations of the Rust functions the PushKit delegate calls (src/ffi.rs); the app's Rust
    // library defines them.
    .target(
      name: "PushCallFFI",
      path: "Sources/PushCallFFI"),
    .target(
      name: "tauri-plugin-push-call",
      dependencies: [
        .byName(name: "Tauri"),
        "PushCallFFI",
      ],
      path: "Sources/PushCall"),
  ]
)

package org.p2pchat.pushcall

import org.json.JSONObject

/**
 * What a push means, decided by the app's Rust library (src-tauri/plugins/push-call/src/payload.rs,
 * reached through src/ffi.rs) so Android and iOS ring, miss and ignore exactly alike. A push may start
 * the process with no activity, so the library is loaded here too (loading it twice is a no-op).
 */
object PushDecision {
  /** The app's Rust library: the `[lib]` name in src-tauri/Cargo.toml. */
  private const val APP_LIBRARY = "p2pchat_app_lib"

  init {
    System.loadLibrary(APP_LIBRARY)
  }

  @JvmStatic
  external fun decide(payload: String, nowMs: Long): String?

  /** `{"action":"ring"|"missed"|"ignore", …}` for the payload's JSON, or null when the library could not answer. */
  fun of(payload: String): JSONObject? = decide(payload, System.currentTimeMillis())?.let { JSONObject(it) }
}

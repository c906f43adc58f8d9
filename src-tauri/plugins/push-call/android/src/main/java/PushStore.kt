package org.p2pchat.pushcall

import android.content.Context
import android.content.SharedPreferences

/**
 * What the receivers need when no window is open, kept in the app's private preferences: where each
 * room's server takes declines, and the Web Push endpoint UnifiedPush gave for each server.
 */
class PushStore(context: Context) {
  private val prefs: SharedPreferences =
    context.applicationContext.getSharedPreferences("p2pchat-push-call", Context.MODE_PRIVATE)

  fun setDeclineUrl(room: String, url: String) = prefs.edit().putString("decline:$room", url).apply()

  fun declineUrl(room: String): String? = prefs.getString("decline:$room", null)

  /** The endpoint and keys UnifiedPush gave for `instance` (one per server) under `vapid`. */
  fun endpoint(instance: String, vapid: String): Endpoint? {
    if (prefs.getString("up-vapid:$instance", null) != vapid) return null
    return Endpoint(
      prefs.getString("up-url:$instance", null) ?: return null,
      prefs.getString("up-p256dh:$instance", null) ?: return null,
      prefs.getString("up-auth:$instance", null) ?: return null,
    )
  }

  fun setVapid(instance: String, vapid: String) = prefs.edit().putString("up-vapid:$instance", vapid).apply()

  fun setEndpoint(instance: String, endpoint: Endpoint) =
    prefs.edit()
      .putString("up-url:$instance", endpoint.url)
      .putString("up-p256dh:$instance", endpoint.p256dh)
      .putString("up-auth:$instance", endpoint.auth)
      .apply()

  fun forgetEndpoint(instance: String) =
    prefs.edit()
      .remove("up-url:$instance")
      .remove("up-p256dh:$instance")
      .remove("up-auth:$instance")
      .remove("up-vapid:$instance")
      .apply()

  /** The UnifiedPush registrations made (one per server). */
  fun instances(): List<String> = prefs.all.keys.filter { it.startsWith("up-vapid:") }.map { it.removePrefix("up-vapid:") }

  /** Forgets every server and endpoint ("forget this device"). */
  fun clear() = prefs.edit().clear().apply()

  data class Endpoint(val url: String, val p256dh: String, val auth: String)
}

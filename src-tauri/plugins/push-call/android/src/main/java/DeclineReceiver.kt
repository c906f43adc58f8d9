package org.p2pchat.pushcall

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.util.Log
import java.net.HttpURLConnection
import java.net.URL

/**
 * Decline from the notification or the call screen: stops the ringing at once, then tells the server
 * (`POST /push/decline` with the push's one-time token; docs/protocol.md), which tells the caller.
 */
class DeclineReceiver : BroadcastReceiver() {
  override fun onReceive(context: Context, intent: Intent) {
    val tag = intent.getStringExtra(CallNotifier.EXTRA_TAG) ?: return
    CallNotifier.cancel(context, tag)
    val url = intent.getStringExtra(CallNotifier.EXTRA_DECLINE_URL)
    val body = intent.getStringExtra(CallNotifier.EXTRA_DECLINE_BODY)
    if (url == null || body == null) {
      Log.w(TAG, "declined, but the server is not known here: the caller sees no answer")
      return
    }
    val pending = goAsync()
    Thread {
      try {
        post(url, body)
      } finally {
        pending.finish()
      }
    }.start()
  }

  private fun post(url: String, body: String) {
    try {
      val connection = URL(url).openConnection() as HttpURLConnection
      connection.requestMethod = "POST"
      connection.connectTimeout = TIMEOUT_MS
      connection.readTimeout = TIMEOUT_MS
      connection.doOutput = true
      connection.instanceFollowRedirects = false
      connection.setRequestProperty("Content-Type", "text/plain;charset=UTF-8")
      connection.outputStream.use { it.write(body.toByteArray(Charsets.UTF_8)) }
      val status = connection.responseCode
      connection.disconnect()
      // 404: the call is over or the token was used; either way nothing more to do.
      if (status != 204 && status != 404) Log.w(TAG, "decline answered $status")
    } catch (e: Exception) {
      Log.w(TAG, "decline not delivered", e)
    }
  }

  private companion object {
    const val TAG = "p2pchat-push"
    /** Within a BroadcastReceiver's 10 s (goAsync). */
    const val TIMEOUT_MS = 4_000
  }
}

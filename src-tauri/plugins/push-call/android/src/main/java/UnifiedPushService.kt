package org.p2pchat.pushcall

import android.util.Log
import org.unifiedpush.android.connector.FailedReason
import org.unifiedpush.android.connector.PushService
import org.unifiedpush.android.connector.data.PushEndpoint
import org.unifiedpush.android.connector.data.PushMessage

/**
 * UnifiedPush events, from whichever distributor the person uses. One registration ("instance") per
 * server: each has its own VAPID key. The connector decrypts pushes (RFC 8291) with the keys it made.
 */
class UnifiedPushService : PushService() {
  override fun onNewEndpoint(endpoint: PushEndpoint, instance: String) {
    val keys = endpoint.pubKeySet
    if (keys == null) {
      PushCallPlugin.endpointFailed(instance, "This UnifiedPush distributor gives no Web Push keys: update it or pick another.")
      return
    }
    val stored = PushStore.Endpoint(endpoint.url, keys.pubKey, keys.auth)
    PushStore(this).setEndpoint(instance, stored)
    PushCallPlugin.endpointReady(instance, stored)
  }

  override fun onMessage(message: PushMessage, instance: String) {
    if (!message.decrypted) {
      Log.w(TAG, "a push that could not be decrypted was dropped")
      return
    }
    CallNotifier.onPush(this, String(message.content, Charsets.UTF_8))
  }

  override fun onRegistrationFailed(reason: FailedReason, instance: String) {
    PushCallPlugin.endpointFailed(instance, "UnifiedPush registration failed ($reason).")
  }

  override fun onUnregistered(instance: String) {
    PushStore(this).forgetEndpoint(instance)
  }

  private companion object {
    const val TAG = "p2pchat-push"
  }
}

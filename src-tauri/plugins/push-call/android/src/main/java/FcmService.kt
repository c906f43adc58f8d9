package org.p2pchat.pushcall

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage

/**
 * FCM data messages from the server's push gateway (docs/operations.md "Push gateway"): one data field,
 * `payload`, holding the push payload's JSON. Only store builds made with a google-services.json receive
 * any. A new token reaches the server when the app next joins a room (it registers on every join).
 */
class FcmService : FirebaseMessagingService() {
  override fun onMessageReceived(message: RemoteMessage) {
    message.data["payload"]?.let { CallNotifier.onPush(this, it) }
  }
}

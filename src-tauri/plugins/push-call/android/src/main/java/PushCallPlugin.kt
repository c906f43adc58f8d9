package org.p2pchat.pushcall

import android.Manifest
import android.app.Activity
import android.content.Intent
import android.os.Build
import android.os.Handler
import android.os.Looper
import android.util.Base64
import android.webkit.WebView
import androidx.core.app.NotificationManagerCompat
import app.tauri.annotation.Command
import app.tauri.annotation.InvokeArg
import app.tauri.annotation.Permission
import app.tauri.annotation.PermissionCallback
import app.tauri.annotation.TauriPlugin
import app.tauri.plugin.Invoke
import app.tauri.plugin.JSObject
import app.tauri.plugin.Plugin
import com.google.firebase.FirebaseApp
import com.google.firebase.messaging.FirebaseMessaging
import org.unifiedpush.android.connector.UnifiedPush

@InvokeArg
class SubscribeArgs {
  /** The server's VAPID key (welcome.push.vapid_key). */
  lateinit var vapidKey: String
  /** Where this server takes declines (`…/push/decline`): also names the UnifiedPush registration. */
  lateinit var declineUrl: String
  lateinit var room: String
  /** Ask for the notification permission (only from the person's click). */
  var ask: Boolean = false
}

@InvokeArg
class WrapArgs {
  lateinit var key: String
}

@InvokeArg
class UnwrapArgs {
  lateinit var wrapped: String
}

/**
 * The window's side of ringing this phone (ui/src/lib/push/mobile.ts) and the history key's Keystore
 * (called from Rust, src/keystore.rs; no permission lets the window call `wrapKey`/`unwrapKey`).
 */
@TauriPlugin(
  permissions = [
    Permission(strings = [Manifest.permission.POST_NOTIFICATIONS], alias = "notifications")
  ]
)
class PushCallPlugin(private val activity: Activity) : Plugin(activity) {
  override fun load(webView: WebView) {
    super.load(webView)
    takeAnswerFrom(activity.intent)
  }

  override fun onNewIntent(intent: Intent) {
    super.onNewIntent(intent)
    takeAnswerFrom(intent)
  }

  /** Answer pressed: keep the call for the window ([takeAnswer]) and stop the ringing. */
  private fun takeAnswerFrom(intent: Intent?) {
    if (intent == null || intent.action != CallNotifier.ACTION_ANSWER) return
    val room = intent.getStringExtra(CallNotifier.EXTRA_ROOM) ?: return
    val call = intent.getStringExtra(CallNotifier.EXTRA_CALL) ?: return
    val from = intent.getStringExtra(CallNotifier.EXTRA_FROM) ?: return
    intent.getStringExtra(CallNotifier.EXTRA_TAG)?.let { CallNotifier.cancel(activity, it) }
    answer = Answer(room, call, from, intent.getLongExtra(CallNotifier.EXTRA_AT, 0L))
    // Handled once: a recreated activity must not answer again.
    intent.action = Intent.ACTION_MAIN
    // A window already running takes it now (a starting one asks when it starts).
    trigger("answer", JSObject())
  }

  @Command
  fun takeAnswer(invoke: Invoke) {
    val taken = answer
    answer = null
    if (taken == null || System.currentTimeMillis() - taken.at > ANSWER_VALID_MS) {
      invoke.resolve()
      return
    }
    invoke.resolve(JSObject().put("room", taken.room).put("call", taken.call).put("from", taken.from))
  }

  @Command
  fun subscribe(invoke: Invoke) {
    val args = invoke.parseArgs(SubscribeArgs::class.java)
    if (!NotificationManagerCompat.from(activity).areNotificationsEnabled()) {
      if (args.ask && Build.VERSION.SDK_INT >= 33) {
        requestPermissionForAlias("notifications", invoke, "notificationsAnswered")
      } else {
        invoke.reject("Allow notifications for p2pchat to be rung here when you are away.")
      }
      return
    }
    subscribeWith(invoke, args)
  }

  @PermissionCallback
  private fun notificationsAnswered(invoke: Invoke) {
    if (!NotificationManagerCompat.from(activity).areNotificationsEnabled()) {
      invoke.reject("Notifications are off for p2pchat: allow them in the phone's settings to be rung here.")
      return
    }
    subscribeWith(invoke, invoke.parseArgs(SubscribeArgs::class.java))
  }

  /** UnifiedPush when the phone has a distributor (the person's choice), else FCM in store builds. */
  private fun subscribeWith(invoke: Invoke, args: SubscribeArgs) {
    PushStore(activity).setDeclineUrl(args.room, args.declineUrl)
    if (UnifiedPush.getAckDistributor(activity) != null || UnifiedPush.getDistributors(activity).isNotEmpty()) {
      UnifiedPush.tryUseCurrentOrDefaultDistributor(activity) { ok ->
        if (ok) registerUnifiedPush(invoke, args) else subscribeFcm(invoke)
      }
    } else {
      subscribeFcm(invoke)
    }
  }

  private fun registerUnifiedPush(invoke: Invoke, args: SubscribeArgs) {
    val instance = args.declineUrl
    val store = PushStore(activity)
    val known = store.endpoint(instance, args.vapidKey)
    if (known != null) {
      invoke.resolve(webpush(known))
    } else {
      synchronized(pending) { pending.getOrPut(instance) { mutableListOf() }.add(invoke) }
      main.postDelayed({
        fail(instance, "The UnifiedPush distributor did not answer: open it and check it is connected.")
      }, ENDPOINT_WAIT_MS)
    }
    store.setVapid(instance, args.vapidKey)
    try {
      // Also renews a known registration; a changed endpoint is registered at the next join.
      UnifiedPush.register(activity, instance, "p2pchat calls", args.vapidKey)
    } catch (e: Exception) {
      fail(instance, "UnifiedPush refused the server's key (${e.message}).")
    }
  }

  private fun subscribeFcm(invoke: Invoke) {
    if (FirebaseApp.getApps(activity).isEmpty() && FirebaseApp.initializeApp(activity) == null) {
      invoke.reject("No push service on this phone: install a UnifiedPush distributor (for example ntfy) to be rung here.")
      return
    }
    FirebaseMessaging.getInstance().token.addOnCompleteListener { task ->
      val token = if (task.isSuccessful) task.result else null
      if (token.isNullOrEmpty()) {
        invoke.reject("Firebase gave no push token (${task.exception?.message ?: "no Google Play services?"}).")
      } else {
        val subscription = JSObject().put("kind", "gateway").put("platform", "fcm").put("token", token)
        invoke.resolve(JSObject().put("subscription", subscription))
      }
    }
  }

  /** "Forget this device": every UnifiedPush registration and the FCM token go, with what was kept. */
  @Command
  fun unsubscribe(invoke: Invoke) {
    val store = PushStore(activity)
    store.instances().forEach { UnifiedPush.unregister(activity, it) }
    store.clear()
    if (FirebaseApp.getApps(activity).isNotEmpty()) FirebaseMessaging.getInstance().deleteToken()
    invoke.resolve()
  }

  @Command
  fun wrapKey(invoke: Invoke) {
    val args = invoke.parseArgs(WrapArgs::class.java)
    val wrapped = HistoryKeystore.wrap(Base64.decode(args.key, Base64.NO_WRAP))
    invoke.resolve(JSObject().put("wrapped", Base64.encodeToString(wrapped, Base64.NO_WRAP)))
  }

  @Command
  fun unwrapKey(invoke: Invoke) {
    val args = invoke.parseArgs(UnwrapArgs::class.java)
    val key = HistoryKeystore.unwrap(Base64.decode(args.wrapped, Base64.NO_WRAP))
    invoke.resolve(JSObject().put("key", Base64.encodeToString(key, Base64.NO_WRAP)))
  }

  private data class Answer(val room: String, val call: String, val from: String, val at: Long)

  companion object {
    /** An answer older than this is stale (the call waited 45 s at most). */
    private const val ANSWER_VALID_MS = 120_000L
    private const val ENDPOINT_WAIT_MS = 30_000L
    private val main = Handler(Looper.getMainLooper())
    private val pending = mutableMapOf<String, MutableList<Invoke>>()
    private var answer: Answer? = null

    private fun webpush(endpoint: PushStore.Endpoint): JSObject {
      val keys = JSObject().put("p256dh", endpoint.p256dh).put("auth", endpoint.auth)
      val subscription = JSObject().put("kind", "webpush").put("endpoint", endpoint.url).put("keys", keys)
      return JSObject().put("subscription", subscription)
    }

    private fun waiting(instance: String): List<Invoke> = synchronized(pending) { pending.remove(instance) ?: emptyList() }

    /** UnifiedPush gave `instance` its endpoint: the window's subscribe calls waiting for it get it. */
    fun endpointReady(instance: String, endpoint: PushStore.Endpoint) {
      waiting(instance).forEach { it.resolve(webpush(endpoint)) }
    }

    fun endpointFailed(instance: String, reason: String) = fail(instance, reason)

    private fun fail(instance: String, reason: String) {
      waiting(instance).forEach { it.reject(reason) }
    }
  }
}

package org.p2pchat.pushcall

import android.Manifest
import android.annotation.SuppressLint
import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.media.AudioAttributes
import android.media.RingtoneManager
import android.os.Build
import android.util.Log
import androidx.core.app.NotificationCompat
import androidx.core.app.NotificationManagerCompat
import androidx.core.app.Person
import androidx.core.content.ContextCompat
import org.json.JSONObject

/**
 * Shows what [PushDecision] decided: a ringing CallStyle notification with a full-screen call screen
 * and the ringtone, or the missed call that replaces it (same tag). Answer opens the app with the call
 * (PushCallPlugin hands it to the window); Decline goes to [DeclineReceiver].
 */
object CallNotifier {
  private const val TAG = "p2pchat-push"
  private const val RING_CHANNEL = "p2pchat-incoming-calls"
  private const val MISSED_CHANNEL = "p2pchat-missed-calls"
  /** One notification per call: the tag (`call:<id>`) tells them apart. */
  const val NOTIFICATION_ID = 0x7043

  const val ACTION_ANSWER = "org.p2pchat.pushcall.ANSWER"
  const val ACTION_DECLINE = "org.p2pchat.pushcall.DECLINE"
  const val EXTRA_ROOM = "org.p2pchat.pushcall.ROOM"
  const val EXTRA_CALL = "org.p2pchat.pushcall.CALL"
  const val EXTRA_FROM = "org.p2pchat.pushcall.FROM"
  const val EXTRA_TAG = "org.p2pchat.pushcall.TAG"
  const val EXTRA_TITLE = "org.p2pchat.pushcall.TITLE"
  const val EXTRA_TEXT = "org.p2pchat.pushcall.TEXT"
  const val EXTRA_RING_MS = "org.p2pchat.pushcall.RING_MS"
  const val EXTRA_DECLINE_URL = "org.p2pchat.pushcall.DECLINE_URL"
  const val EXTRA_DECLINE_BODY = "org.p2pchat.pushcall.DECLINE_BODY"
  const val EXTRA_AT = "org.p2pchat.pushcall.AT"

  /** A push's payload (JSON text) arrived: ring, turn into a missed call, or nothing. */
  fun onPush(context: Context, payload: String) {
    val decision = try {
      PushDecision.of(payload)
    } catch (e: Throwable) {
      Log.e(TAG, "cannot decide on a push", e)
      null
    } ?: return
    when (decision.optString("action")) {
      "ring" -> ring(context, decision)
      "missed" -> missed(context, decision)
      else -> Log.i(TAG, "push ignored: ${decision.optString("reason")}")
    }
  }

  @SuppressLint("MissingPermission")
  private fun ring(context: Context, ring: JSONObject) {
    if (!mayNotify(context)) return
    ensureChannels(context)
    val tag = ring.getString("tag")
    val room = ring.getString("room")
    val declineUrl = PushStore(context).declineUrl(room)
    val answer = PendingIntent.getActivity(
      context, requestCode(tag, 1),
      answerIntent(context, room, ring.getString("call"), ring.getString("caller_peer"), tag),
      PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE,
    )
    val decline = PendingIntent.getBroadcast(
      context, requestCode(tag, 2),
      Intent(context, DeclineReceiver::class.java)
        .setAction(ACTION_DECLINE)
        .putExtra(EXTRA_TAG, tag)
        .putExtra(EXTRA_DECLINE_URL, declineUrl)
        .putExtra(EXTRA_DECLINE_BODY, ring.getString("decline_body")),
      PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE,
    )
    val ringMs = ring.getLong("ring_ms")
    val screen = PendingIntent.getActivity(
      context, requestCode(tag, 3),
      Intent(context, IncomingCallActivity::class.java)
        .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_NO_USER_ACTION)
        .putExtra(EXTRA_TAG, tag)
        .putExtra(EXTRA_TITLE, ring.getString("title"))
        .putExtra(EXTRA_TEXT, ring.getString("text"))
        .putExtra(EXTRA_RING_MS, ringMs)
        .putExtra(EXTRA_ANSWER_PENDING, answer)
        .putExtra(EXTRA_DECLINE_PENDING, decline),
      PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE,
    )
    val caller = Person.Builder().setName(ring.getString("title")).setImportant(true).build()
    val builder = NotificationCompat.Builder(context, RING_CHANNEL)
      .setSmallIcon(android.R.drawable.sym_call_incoming)
      .setContentTitle(ring.getString("title"))
      .setContentText(ring.getString("text"))
      .setCategory(NotificationCompat.CATEGORY_CALL)
      .setPriority(NotificationCompat.PRIORITY_MAX)
      .setVisibility(NotificationCompat.VISIBILITY_PUBLIC)
      .setOngoing(true)
      .setTimeoutAfter(ringMs)
      .setContentIntent(screen)
      .setFullScreenIntent(screen, true)
      // Before Android 8 there are no channels: the notification carries the ringtone itself.
      .setSound(RingtoneManager.getDefaultUri(RingtoneManager.TYPE_RINGTONE))
      .setVibrate(VIBRATION)
      .addPerson(caller)
      .setStyle(NotificationCompat.CallStyle.forIncomingCall(caller, decline, answer).setIsVideo(ring.getBoolean("video")))
    try {
      NotificationManagerCompat.from(context).notify(tag, NOTIFICATION_ID, insistent(builder.build()))
    } catch (e: IllegalArgumentException) {
      // A system that refuses this call style (it wants a full-screen intent it does not grant, or a
      // foreground service) still gets a ringing notification with the same two actions.
      Log.w(TAG, "call style refused, ringing with a plain notification", e)
      builder.setStyle(null)
        .addAction(android.R.drawable.sym_call_missed, "Decline", decline)
        .addAction(android.R.drawable.sym_call_incoming, "Answer", answer)
      NotificationManagerCompat.from(context).notify(tag, NOTIFICATION_ID, insistent(builder.build()))
    }
  }

  /** Rings until answered, declined or timed out, not once. */
  private fun insistent(notification: Notification): Notification {
    notification.flags = notification.flags or Notification.FLAG_INSISTENT
    return notification
  }

  @SuppressLint("MissingPermission")
  private fun missed(context: Context, missed: JSONObject) {
    val tag = missed.getString("tag")
    IncomingCallActivity.close(tag)
    if (!mayNotify(context)) return
    ensureChannels(context)
    val open = context.packageManager.getLaunchIntentForPackage(context.packageName)
    val builder = NotificationCompat.Builder(context, MISSED_CHANNEL)
      .setSmallIcon(android.R.drawable.sym_call_missed)
      .setContentTitle(missed.getString("title"))
      .setContentText(missed.getString("text"))
      .setAutoCancel(true)
    if (open != null) {
      builder.setContentIntent(
        PendingIntent.getActivity(context, requestCode(tag, 4), open, PendingIntent.FLAG_IMMUTABLE)
      )
    }
    // Same tag and id: replaces the ringing notification of that call.
    NotificationManagerCompat.from(context).notify(tag, NOTIFICATION_ID, builder.build())
  }

  /** Stops the ringing of the call `tag` (answered or declined here). */
  fun cancel(context: Context, tag: String) {
    NotificationManagerCompat.from(context).cancel(tag, NOTIFICATION_ID)
    IncomingCallActivity.close(tag)
  }

  /** Opens the app with the call to answer (read by PushCallPlugin). */
  fun answerIntent(context: Context, room: String, call: String, from: String, tag: String): Intent {
    val launch = context.packageManager.getLaunchIntentForPackage(context.packageName) ?: Intent()
    return launch
      .setAction(ACTION_ANSWER)
      .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_SINGLE_TOP)
      .putExtra(EXTRA_ROOM, room)
      .putExtra(EXTRA_CALL, call)
      .putExtra(EXTRA_FROM, from)
      .putExtra(EXTRA_TAG, tag)
      .putExtra(EXTRA_AT, System.currentTimeMillis())
  }

  const val EXTRA_ANSWER_PENDING = "org.p2pchat.pushcall.ANSWER_PENDING"
  const val EXTRA_DECLINE_PENDING = "org.p2pchat.pushcall.DECLINE_PENDING"

  private val VIBRATION = longArrayOf(0, 800, 600, 800, 600)

  private fun mayNotify(context: Context): Boolean {
    if (Build.VERSION.SDK_INT >= 33 &&
      ContextCompat.checkSelfPermission(context, Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED
    ) {
      Log.w(TAG, "a call push arrived but notifications are not allowed")
      return false
    }
    return true
  }

  private fun requestCode(tag: String, kind: Int): Int = tag.hashCode() * 8 + kind

  private fun ensureChannels(context: Context) {
    if (Build.VERSION.SDK_INT < 26) return
    val manager = context.getSystemService(NotificationManager::class.java) ?: return
    val ringing = NotificationChannel(RING_CHANNEL, "Incoming calls", NotificationManager.IMPORTANCE_HIGH).apply {
      description = "Calls to this phone while the app is closed"
      setSound(
        RingtoneManager.getDefaultUri(RingtoneManager.TYPE_RINGTONE),
        AudioAttributes.Builder()
          .setUsage(AudioAttributes.USAGE_NOTIFICATION_RINGTONE)
          .setContentType(AudioAttributes.CONTENT_TYPE_SONIFICATION)
          .build(),
      )
      enableVibration(true)
      vibrationPattern = VIBRATION
      lockscreenVisibility = Notification.VISIBILITY_PUBLIC
    }
    val missedCalls = NotificationChannel(MISSED_CHANNEL, "Missed calls", NotificationManager.IMPORTANCE_DEFAULT)
    manager.createNotificationChannels(listOf(ringing, missedCalls))
  }
}

package org.p2pchat.pushcall

import android.app.KeyguardManager
import android.app.PendingIntent
import android.os.Build
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.util.TypedValue
import android.view.Gravity
import android.view.WindowManager
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.IntentCompat
import java.lang.ref.WeakReference

/**
 * The full-screen incoming call (the notification's full-screen intent), over the lock screen: who
 * calls, Answer and Decline (the notification's own actions). It closes when the call stops ringing.
 */
class IncomingCallActivity : AppCompatActivity() {
  private var tag: String? = null
  private val timeout = Handler(Looper.getMainLooper())

  override fun onCreate(savedInstanceState: Bundle?) {
    super.onCreate(savedInstanceState)
    if (Build.VERSION.SDK_INT >= 27) {
      setShowWhenLocked(true)
      setTurnScreenOn(true)
      getSystemService(KeyguardManager::class.java)?.requestDismissKeyguard(this, null)
    } else {
      @Suppress("DEPRECATION")
      window.addFlags(WindowManager.LayoutParams.FLAG_SHOW_WHEN_LOCKED or WindowManager.LayoutParams.FLAG_TURN_SCREEN_ON)
    }
    show()
  }

  override fun onNewIntent(intent: android.content.Intent) {
    super.onNewIntent(intent)
    setIntent(intent)
    show()
  }

  private fun show() {
    tag = intent.getStringExtra(CallNotifier.EXTRA_TAG)
    current = WeakReference(this)
    val answer = IntentCompat.getParcelableExtra(intent, CallNotifier.EXTRA_ANSWER_PENDING, PendingIntent::class.java)
    val decline = IntentCompat.getParcelableExtra(intent, CallNotifier.EXTRA_DECLINE_PENDING, PendingIntent::class.java)
    val pad = dp(24)
    val layout = LinearLayout(this).apply {
      orientation = LinearLayout.VERTICAL
      gravity = Gravity.CENTER
      setPadding(pad, pad, pad, pad)
    }
    layout.addView(TextView(this).apply {
      text = intent.getStringExtra(CallNotifier.EXTRA_TITLE)
      setTextSize(TypedValue.COMPLEX_UNIT_SP, 30f)
      gravity = Gravity.CENTER
    })
    layout.addView(TextView(this).apply {
      text = intent.getStringExtra(CallNotifier.EXTRA_TEXT)
      setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f)
      gravity = Gravity.CENTER
      setPadding(0, dp(8), 0, dp(48))
    })
    val buttons = LinearLayout(this).apply {
      orientation = LinearLayout.HORIZONTAL
      gravity = Gravity.CENTER
    }
    buttons.addView(Button(this).apply {
      text = "Decline"
      setOnClickListener { send(decline) }
    })
    buttons.addView(Button(this).apply {
      text = "Answer"
      setOnClickListener { send(answer) }
    })
    layout.addView(buttons)
    setContentView(layout)
    timeout.removeCallbacksAndMessages(null)
    timeout.postDelayed({ finish() }, intent.getLongExtra(CallNotifier.EXTRA_RING_MS, 0L))
  }

  private fun send(action: PendingIntent?) {
    try {
      action?.send()
    } catch (e: PendingIntent.CanceledException) {
      // The call already stopped ringing: nothing to answer or decline.
    }
    finish()
  }

  override fun onDestroy() {
    timeout.removeCallbacksAndMessages(null)
    if (current?.get() === this) current = null
    super.onDestroy()
  }

  private fun dp(value: Int): Int =
    TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, value.toFloat(), resources.displayMetrics).toInt()

  companion object {
    private var current: WeakReference<IncomingCallActivity>? = null

    /** Closes the call screen of call `tag`, if it shows (answered, declined or missed elsewhere). */
    fun close(tag: String) {
      Handler(Looper.getMainLooper()).post {
        current?.get()?.takeIf { it.tag == tag }?.finish()
      }
    }
  }
}

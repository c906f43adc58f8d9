package org.p2pchat.pushcall

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Wraps the history's 32-byte key (issue 25) with an AES-256-GCM key that never leaves the Android
 * Keystore. Wrapped form: the 12-byte IV, then the ciphertext with its 16-byte tag. The Rust side
 * (src/keystore.rs) keeps it beside the database.
 */
object HistoryKeystore {
  private const val PROVIDER = "AndroidKeyStore"
  private const val ALIAS = "p2pchat-history"
  private const val TRANSFORMATION = "AES/GCM/NoPadding"
  private const val IV_BYTES = 12
  private const val TAG_BITS = 128

  fun wrap(raw: ByteArray): ByteArray {
    val cipher = Cipher.getInstance(TRANSFORMATION)
    // The Keystore picks a fresh random IV for every encryption.
    cipher.init(Cipher.ENCRYPT_MODE, key())
    return cipher.iv + cipher.doFinal(raw)
  }

  fun unwrap(wrapped: ByteArray): ByteArray {
    require(wrapped.size > IV_BYTES + TAG_BITS / 8) { "the wrapped key is too short" }
    val cipher = Cipher.getInstance(TRANSFORMATION)
    cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, wrapped, 0, IV_BYTES))
    return cipher.doFinal(wrapped, IV_BYTES, wrapped.size - IV_BYTES)
  }

  /** The Keystore key, made on first use (a new phone, or the app's data cleared, has none). */
  private fun key(): SecretKey {
    val store = KeyStore.getInstance(PROVIDER).apply { load(null) }
    (store.getKey(ALIAS, null) as? SecretKey)?.let { return it }
    val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
    generator.init(
      KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
        .setKeySize(256)
        .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
        .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
        .build()
    )
    return generator.generateKey()
  }
}

//! The push receivers' way to [`decide_json`]: they run when no window is open (a push wakes the app's
//! process), so they call the app's library directly instead of going through the IPC. Each returns the
//! [`Decision`](crate::payload::Decision) as JSON (`{"action":"ring"|"missed"|"ignore",…}`).

#[cfg(any(target_os = "android", target_os = "ios"))]
use crate::payload::decide_json;

#[cfg(any(target_os = "android", target_os = "ios"))]
fn decision_text(payload: &str, now_ms: i64) -> String {
    let decision = decide_json(payload, u64::try_from(now_ms).unwrap_or(0));
    serde_json::to_string(&decision)
        .unwrap_or_else(|_| r#"{"action":"ignore","reason":"unencodable"}"#.into())
}

/// `org.p2pchat.pushcall.PushDecision.decide(payload: String, nowMs: Long): String?`
/// (android/src/main/java/PushDecision.kt).
#[cfg(target_os = "android")]
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_p2pchat_pushcall_PushDecision_decide<'local>(
    mut env: jni::JNIEnv<'local>,
    _class: jni::objects::JClass<'local>,
    payload: jni::objects::JString<'local>,
    now_ms: jni::sys::jlong,
) -> jni::sys::jstring {
    let payload: String = match env.get_string(&payload) {
        Ok(text) => text.into(),
        Err(_) => return std::ptr::null_mut(),
    };
    env.new_string(decision_text(&payload, now_ms))
        .map(|text| text.into_raw())
        .unwrap_or(std::ptr::null_mut())
}

/// `char *p2pchat_push_decide(const char *payload, int64_t now_ms)` (ios/Sources/PushCallFFI): the
/// answer is freed with [`p2pchat_push_free`]; NULL when `payload` is NULL or not UTF-8.
///
/// # Safety
/// `payload` is NULL or a NUL-terminated string that stays valid during the call.
#[cfg(target_os = "ios")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn p2pchat_push_decide(
    payload: *const std::ffi::c_char,
    now_ms: i64,
) -> *mut std::ffi::c_char {
    if payload.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: the caller passes a NUL-terminated string valid for the call.
    let Ok(payload) = unsafe { std::ffi::CStr::from_ptr(payload) }.to_str() else {
        return std::ptr::null_mut();
    };
    std::ffi::CString::new(decision_text(payload, now_ms))
        .map(std::ffi::CString::into_raw)
        .unwrap_or(std::ptr::null_mut())
}

/// Frees an answer of [`p2pchat_push_decide`].
///
/// # Safety
/// `text` is NULL or a pointer [`p2pchat_push_decide`] returned, freed once.
#[cfg(target_os = "ios")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn p2pchat_push_free(text: *mut std::ffi::c_char) {
    if !text.is_null() {
        // SAFETY: `text` came from CString::into_raw in p2pchat_push_decide.
        drop(unsafe { std::ffi::CString::from_raw(text) });
    }
}

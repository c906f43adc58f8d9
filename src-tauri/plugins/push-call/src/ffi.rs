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

/// The native halves find these entry points (and the plugin classes) by name only, in code no compiler
/// here sees: the names on both sides are checked against each other.
#[cfg(test)]
mod tests {
    const FFI: &str = include_str!("ffi.rs");
    const MOBILE: &str = include_str!("mobile.rs");
    const KOTLIN_DECISION: &str = include_str!("../android/src/main/java/PushDecision.kt");
    const KOTLIN_PLUGIN: &str = include_str!("../android/src/main/java/PushCallPlugin.kt");
    const C_HEADER: &str = include_str!("../ios/Sources/PushCallFFI/include/PushCallFFI.h");
    const SWIFT_PLUGIN: &str = include_str!("../ios/Sources/PushCall/PushCallPlugin.swift");
    const APP_MANIFEST: &str = include_str!("../../../Cargo.toml");

    #[test]
    fn the_jni_symbol_is_the_kotlin_native_method() {
        assert!(KOTLIN_DECISION.contains("package org.p2pchat.pushcall\n"));
        assert!(KOTLIN_DECISION.contains("object PushDecision {"));
        assert!(
            KOTLIN_DECISION.contains(
                "@JvmStatic\n  external fun decide(payload: String, nowMs: Long): String?"
            )
        );
        assert!(FFI.contains("fn Java_org_p2pchat_pushcall_PushDecision_decide<'local>("));
        // (JNIEnv, jclass, jstring, jlong) -> jstring: a static method taking String and Long.
        assert!(FFI.contains("payload: jni::objects::JString<'local>,\n    now_ms: jni::sys::jlong,\n) -> jni::sys::jstring"));
    }

    #[test]
    fn kotlin_loads_the_apps_library() {
        assert!(KOTLIN_DECISION.contains(r#"APP_LIBRARY = "p2pchat_app_lib""#));
        assert!(
            APP_MANIFEST.contains("[lib]\n# `_lib` suffix")
                && APP_MANIFEST.contains(r#"name = "p2pchat_app_lib""#)
        );
    }

    #[test]
    fn the_c_declarations_are_the_rust_functions() {
        assert!(
            C_HEADER.contains("char *p2pchat_push_decide(const char *payload, int64_t now_ms);")
        );
        assert!(C_HEADER.contains("void p2pchat_push_free(char *text);"));
        assert!(FFI.contains("pub unsafe extern \"C\" fn p2pchat_push_decide(\n    payload: *const std::ffi::c_char,\n    now_ms: i64,\n) -> *mut std::ffi::c_char"));
        assert!(
            FFI.contains(
                "pub unsafe extern \"C\" fn p2pchat_push_free(text: *mut std::ffi::c_char)"
            )
        );
    }

    #[test]
    fn the_plugin_classes_are_the_ones_registered() {
        assert!(
            MOBILE.contains(r#"register_android_plugin("org.p2pchat.pushcall", "PushCallPlugin")"#)
        );
        assert!(KOTLIN_PLUGIN.contains("package org.p2pchat.pushcall\n"));
        assert!(
            KOTLIN_PLUGIN.contains(
                "class PushCallPlugin(private val activity: Activity) : Plugin(activity)"
            )
        );
        assert!(MOBILE.contains("tauri::ios_plugin_binding!(init_plugin_push_call);"));
        assert!(
            SWIFT_PLUGIN
                .contains("@_cdecl(\"init_plugin_push_call\")\npublic func initPlugin() -> Plugin")
        );
    }
}

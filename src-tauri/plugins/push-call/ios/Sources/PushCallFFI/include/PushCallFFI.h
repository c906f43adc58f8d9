// What a push means, decided by the app's Rust library (src-tauri/plugins/push-call/src/payload.rs and
// src/ffi.rs): JSON {"action":"ring"|"missed"|"ignore",...}. Free the answer with p2pchat_push_free.
#ifndef PUSH_CALL_FFI_H
#define PUSH_CALL_FFI_H

#include <stdint.h>

char *p2pchat_push_decide(const char *payload, int64_t now_ms);
void p2pchat_push_free(char *text);

#endif

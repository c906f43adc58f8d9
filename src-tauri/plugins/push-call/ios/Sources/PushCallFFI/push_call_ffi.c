// Only declarations live in this target (include/PushCallFFI.h); SwiftPM needs a source file for a C
// target. The functions are defined by the app's Rust library.
#include "PushCallFFI.h"

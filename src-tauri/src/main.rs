//! Desktop entry point: all of the app lives in the library (`run`), which mobile builds enter directly.
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    p2pchat_app_lib::run();
}

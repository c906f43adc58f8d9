//! Registers the Kotlin or Swift plugin class; on Android also connects the Keystore ([`crate::keystore`]).

use serde::de::DeserializeOwned;
use tauri::{Runtime, plugin::PluginApi};

#[cfg(target_os = "ios")]
tauri::ios_plugin_binding!(init_plugin_push_call);

pub fn register<R: Runtime, C: DeserializeOwned>(
    api: PluginApi<R, C>,
) -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(target_os = "android")]
    {
        let handle = api.register_android_plugin("org.p2pchat.pushcall", "PushCallPlugin")?;
        crate::keystore::connect(move |command, args| {
            handle
                .run_mobile_plugin::<serde_json::Value>(command, args)
                .map_err(|err| err.to_string())
        });
    }
    #[cfg(target_os = "ios")]
    api.register_ios_plugin(init_plugin_push_call)?;
    Ok(())
}

//! Android start-up of the Bluetooth stack (../shared/devices.md §2): btleplug needs the JVM
//! before any `Manager` exists, on a thread whose class loader sees the app's classes and
//! btleplug's droidplug classes. MainActivity calls `initBluetooth()` from `onCreate`, on the UI
//! thread, which satisfies both.
//!
//! Compiled only for Android. The development machine has no Android NDK, so this file is
//! written and reviewed against the jni 0.22 and btleplug 0.13.5 sources but not compiled here;
//! platforms/README.md says what remains to verify on a device.

use std::sync::atomic::{AtomicBool, Ordering};

use ::jni::errors::ThrowRuntimeExAndDefault;
use ::jni::objects::JObject;

static READY: AtomicBool = AtomicBool::new(false);

/// `external fun initBluetooth()` in platforms/android/MainActivity.kt.
#[no_mangle]
pub extern "system" fn Java_dev_dioxus_main_MainActivity_initBluetooth<'caller>(
    mut unowned: ::jni::EnvUnowned<'caller>,
    _this: JObject<'caller>,
) {
    let ok = unowned
        .with_env(|env| -> Result<bool, ::jni::errors::Error> {
            match btleplug::platform::init(env) {
                Ok(()) => Ok(true),
                Err(e) => {
                    tracing::error!(error = %e, "btleplug could not start");
                    Ok(false)
                }
            }
        })
        .resolve::<ThrowRuntimeExAndDefault>();
    READY.store(ok, Ordering::SeqCst);
}

/// Whether the activity initialised btleplug (the adapter probe asks before anything else).
pub fn initialised() -> bool {
    READY.load(Ordering::SeqCst)
}

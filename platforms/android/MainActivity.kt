// Pumpside's Android activity. dx 0.7.10 copies this file verbatim (Dioxus.toml
// [application] android_main_activity), replacing its default `class MainActivity : WryActivity()`.
//
// Why it exists: Android 12+ grants BLUETOOTH_SCAN and BLUETOOTH_CONNECT only after a run-time
// request, and Android 11 and older need ACCESS_FINE_LOCATION to scan. Dioxus.toml declares
// them in the manifest; this asks for them when the app opens. If the user refuses, the Rust side
// finds no usable adapter and starts demo mode with a banner saying why.
//
// Not built on the development machine (no Android SDK there): see platforms/README.md.
package dev.dioxus.main

import android.Manifest
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle

typealias BuildConfig = org.pumpside.app.BuildConfig

class MainActivity : WryActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // btleplug needs the JVM and this thread's class loader before any Bluetooth call
        // (src/devices/android.rs). Runs on the UI thread, after WryActivity loaded our library.
        initBluetooth()
        requestBluetoothPermissions()
    }

    private external fun initBluetooth()

    private fun requestBluetoothPermissions() {
        val wanted = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            arrayOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
        } else {
            arrayOf(Manifest.permission.ACCESS_FINE_LOCATION)
        }
        val missing = wanted.filter {
            checkSelfPermission(it) != PackageManager.PERMISSION_GRANTED
        }
        if (missing.isNotEmpty()) {
            requestPermissions(missing.toTypedArray(), REQUEST_BLUETOOTH)
        }
    }

    companion object {
        private const val REQUEST_BLUETOOTH = 4201
    }
}

import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.p2pchat.pushcall"
    compileSdk = 36

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
}

kotlin {
    compilerOptions {
        jvmTarget = JvmTarget.JVM_1_8
    }
}

dependencies {
    // NotificationCompat.CallStyle (core 1.10+), Person, NotificationManagerCompat.
    implementation("androidx.core:core-ktx:1.16.0")
    implementation("androidx.appcompat:appcompat:1.7.1")
    // UnifiedPush (any distributor: ntfy, NextPush, …): Web Push endpoints and RFC 8291 decryption.
    // Maven Central, no extra repository.
    implementation("org.unifiedpush.android:connector:3.0.9")
    // FCM data messages for store builds; inert unless the app is built with a google-services.json.
    implementation("com.google.firebase:firebase-messaging:24.1.0")
    implementation(project(":tauri-android"))
}

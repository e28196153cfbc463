//! Start-up: parse the command line, open the record, start background work, open the window.
//! The only place (with tests) where a failure may end the process.

use std::time::Instant;

use pumpside::app::config::USAGE;
use pumpside::app::{AppConfig, ConfigError, Services};

fn main() {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let config = match AppConfig::parse(
        std::env::args().skip(1),
        std::env::var_os("PUMPSIDE_DATA_DIR").map(Into::into),
        dirs::data_local_dir(),
    ) {
        Ok(c) => c,
        Err(ConfigError::HelpRequested) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("pumpside: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };

    if config.recover_key {
        std::process::exit(recover_key(&config));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pumpside-worker")
        .build()
        .expect("cannot start the async runtime");
    let services = match runtime.block_on(Services::start(config.clone(), started)) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("pumpside: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!(
        data_dir = %config.data_dir.display(),
        demo = config.demo,
        "starting Pumpside (not cleared for clinical use)"
    );

    // Dioxus reuses the runtime we enter here, so our background tasks and the UI share it.
    let _entered = runtime.enter();
    launch(config, services);
}

/// `pumpside --recover-key`: the passphrase is one line on standard input (from a terminal,
/// `read -rs` hides it; it is never echoed, logged or kept).
fn recover_key(config: &AppConfig) -> i32 {
    use std::io::BufRead;
    eprintln!(
        "pumpside: type the administrator's recovery passphrase for {} and press Enter",
        config.data_dir.display()
    );
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("pumpside: cannot read the passphrase: {e}");
        return 1;
    }
    let passphrase = line.trim_end_matches(['\r', '\n']);
    match pumpside::app::keys::recover(&config.data_dir, config.key_store, passphrase) {
        Ok(home) => {
            println!("pumpside: the device key is back, {}", home.describe());
            0
        }
        Err(e) => {
            eprintln!("pumpside: {e}");
            1
        }
    }
}

#[cfg(feature = "desktop")]
use dioxus::desktop as window_shell;
#[cfg(all(feature = "mobile", not(feature = "desktop")))]
use dioxus::mobile as window_shell;

#[cfg(any(feature = "desktop", feature = "mobile"))]
fn launch(config: AppConfig, services: Services) {
    use window_shell::{Config, LogicalPosition, LogicalSize, WindowBuilder};

    let (w, h) = config.window;
    let window = WindowBuilder::new()
        .with_title("Pumpside")
        .with_inner_size(LogicalSize::new(w, h))
        .with_position(LogicalPosition::new(0.0, 0.0))
        .with_resizable(true);
    let cfg = Config::new()
        .with_window(window)
        .with_menu(None)
        .with_disable_context_menu(true)
        .with_background_color((10, 14, 19, 255))
        .with_data_directory(config.data_dir.join("webview"))
        .with_custom_head(format!("<style>{}</style>", pumpside::ui::CSS));
    dioxus::LaunchBuilder::new()
        .with_cfg(cfg)
        .with_context(services)
        .launch(pumpside::ui::App);
}

#[cfg(not(any(feature = "desktop", feature = "mobile")))]
fn launch(_config: AppConfig, _services: Services) {
    eprintln!("pumpside: built without a window feature (enable `desktop` or `mobile`)");
    std::process::exit(2);
}

//! `signaling-server` binary: parse flags, set up logging, serve until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use signaling_server::Config;
use signaling_server::config::{Command, MIN_SECRET_BYTES};
use signaling_server::invite::{self, TokenArgs};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with code 2.
    let (mut config, warnings) = Config::parse_with_warnings();
    match config.command.take() {
        Some(Command::Token(args)) => return print_token(config, &args),
        Some(Command::PushGateway(args)) => return push_gateway(&args),
        None => {}
    }
    if let Err(message) = config.load_secret_files().and_then(|()| config.validate()) {
        eprintln!("signaling-server: {message}");
        return ExitCode::from(2);
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = config.worker_threads {
        builder.worker_threads(usize::from(threads));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("signaling-server: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    trim_heap_periodically();
    runtime.block_on(async {
        let server = match signaling_server::start(config).await {
            Ok(server) => server,
            Err(err) => {
                eprintln!("signaling-server: {err}");
                return ExitCode::from(2);
            }
        };
        shutdown_signal().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// `signaling-server token`: prints a token and its invite link, or one line saying what is missing.
fn print_token(mut config: Config, args: &TokenArgs) -> ExitCode {
    let minted = config.load_secret_files().and_then(|()| {
        let secret = config.auth_secret.as_deref().ok_or(
            "no secret to sign with: give the server's --auth-secret-file (or SIGNALING_AUTH_SECRET_FILE / \
             SIGNALING_AUTH_SECRET)",
        )?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "--auth-secret must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        invite::mint(secret, &config.token_rules(), args)
    });
    match minted {
        Ok(invite) => {
            println!("{}\n{}", invite.token, invite.link);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("signaling-server token: {message}");
            ExitCode::from(2)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// glibc keeps memory that was freed in its heaps instead of giving it back to the system, so after a burst
/// (many large frames buffered, then freed) the process would keep its peak RSS for good, and the heaps
/// fragment over repeated bursts. Every few seconds, hand free pages back (`malloc_trim` releases every
/// whole free page, not only the top of the heap); it takes about a millisecond per 100 MiB of heap.
fn trim_heap_periodically() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                // SAFETY: malloc_trim only returns free memory to the system; it is thread-safe.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        })
        .map(drop)
        .unwrap_or_else(|err| tracing::warn!("no heap-trim thread: {err}"));
}

/// `signaling-server push-gateway`: serves until SIGTERM or Ctrl-C.
fn push_gateway(args: &signaling_server::config::GatewayArgs) -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let gateway = match signaling_server::push::gateway::Gateway::new(args) {
        Ok(gateway) => gateway,
        Err(message) => {
            eprintln!("signaling-server push-gateway: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("signaling-server push-gateway: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        tokio::select! {
            served = gateway.serve(args.listen) => match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("signaling-server push-gateway: {err}");
                    ExitCode::from(2)
                }
            },
            () = shutdown_signal() => ExitCode::SUCCESS,
        }
    })
}

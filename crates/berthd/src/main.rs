#![recursion_limit = "256"]
//! `berthd`: the berth daemon. One process owning images and containers,
//! speaking the Docker Engine API on a unix socket.

mod api;
mod config;
mod engine;
mod error;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use clap::Parser;

fn main() {
    let flags = config::Flags::parse();
    let cfg = match config::Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e}");
            std::process::exit(1);
        }
    };
    init_logging(&cfg.log_level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(serve(cfg));
    std::process::exit(code);
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("berthd={level},berth={level}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn serve(cfg: config::Config) -> i32 {
    if let Err(e) = config::write_pidfile(&cfg.pidfile) {
        eprintln!("berthd: {e}");
        return 1;
    }
    let engine = match engine::Engine::open(&cfg).await {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("berthd: {e}");
            let _ = std::fs::remove_file(&cfg.pidfile);
            return 1;
        }
    };
    let app = api::router(engine.clone());
    let mut servers = Vec::new();
    for host in &cfg.hosts {
        let Some(path) = host.strip_prefix("unix://") else {
            eprintln!(
                "berthd: {host}: only unix:// sockets are supported (tcp needs TLS, not implemented yet)"
            );
            return 1;
        };
        if let Some(dir) = std::path::Path::new(path).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::remove_file(path);
        let listener = match tokio::net::UnixListener::bind(path) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("berthd: listen on {path}: {e}");
                return 1;
            }
        };
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660));
        if let Some(gid) = config::group_id("berth") {
            let _ = nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)));
        }
        tracing::info!("API listening on {path}");
        let app = app.clone();
        let eng = engine.clone();
        servers.push(tokio::spawn(async move {
            // The version prefix is stripped before routing, so the layer wraps the router.
            let app = tower::Layer::layer(
                &axum::middleware::from_fn_with_state(eng, api::versioned),
                app,
            );
            let svc = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
            let _ = axum::serve(listener, svc).await;
        }));
    }
    engine.restore().await;
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal");
    let mut int =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).expect("signal");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down (containers keep running under their monitors)");
    for s in servers {
        s.abort();
    }
    for host in &cfg.hosts {
        if let Some(path) = host.strip_prefix("unix://") {
            let _ = std::fs::remove_file(path);
        }
    }
    let _ = std::fs::remove_file(&cfg.pidfile);
    0
}

#![recursion_limit = "256"]
//! `berthd`: the berth daemon. One process owning images and containers,
//! speaking the Docker Engine API on a unix socket.

mod api;
mod config;
mod listen;
mod remap;

use std::sync::Arc;

use clap::Parser;

fn main() {
    // Descriptors the parent left open (a build's lock file, a test
    // harness's pipes) would be held for the daemon's whole life: close
    // them before anything of ours is opened.
    // SAFETY: nothing of this process is open above stderr yet.
    unsafe {
        libc::close_range(3, libc::c_uint::MAX, 0);
    }
    let flags = config::Flags::parse();
    let cfg = match config::Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e}");
            std::process::exit(1);
        }
    };
    init_logging(&cfg.log_level);
    // One malloc arena: the daemon is mostly idle, and per-thread arenas keep
    // freed memory resident (PSS) long after a burst of work.
    // SAFETY: mallopt only tunes the allocator; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(serve(cfg));
    std::process::exit(code);
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "berthd={level},berth={level},berth_engine={level},berth_image={level},berth_net={level}"
    ))
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
    let listeners = match listen::bind(&cfg).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("berthd: {e}");
            remove_logged(&cfg.pidfile);
            return 1;
        }
    };
    let engine = match berth_engine::Engine::open(cfg.engine()).await {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("berthd: {e}");
            for l in &listeners {
                if let Some(p) = l.unix_path() {
                    remove_logged(p);
                }
            }
            remove_logged(&cfg.pidfile);
            return 1;
        }
    };
    // The version prefix is stripped before routing, so the layer wraps the router.
    let app = axum::Router::new().fallback_service(tower::Layer::layer(
        &axum::middleware::from_fn(api::versioned),
        api::router(engine.clone()),
    ));
    // Restore before serving (as dockerd does): clients connecting now wait
    // in the listeners' backlog, and no request races what a crash left
    // being collected.
    engine.restore().await;
    let mut servers = Vec::new();
    let mut sockets = Vec::new();
    for l in listeners {
        sockets.extend(l.unix_path().map(std::path::Path::to_path_buf));
        servers.push(tokio::spawn(
            l.serve(app.clone(), listen::TcpLimits::default()),
        ));
    }
    // Give memory freed after bursts of work back to the system.
    tokio::spawn(async {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            // SAFETY: malloc_trim has no preconditions.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    });
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
    for path in sockets {
        remove_logged(&path);
    }
    remove_logged(&cfg.pidfile);
    0
}

/// Remove a file the daemon made; a failure is logged, not dropped.
fn remove_logged(p: &std::path::Path) {
    if let Err(e) = std::fs::remove_file(p)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("remove {}: {e}", p.display());
    }
}

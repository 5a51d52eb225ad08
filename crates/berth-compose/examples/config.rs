//! `cargo run -p berth-compose --example config -- [-f FILE]... [-p NAME] [--profile P]...`:
//! prints the normalised project, like `docker compose config`.

fn main() {
    let mut opts = berth_compose::LoadOptions::from_process_env();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-f" => opts.files.extend(args.next().map(Into::into)),
            "-p" => opts.project_name = args.next(),
            "--profile" => opts.profiles.extend(args.next()),
            "--project-directory" => opts.project_dir = args.next().map(Into::into),
            "--env-file" => opts.env_files.extend(args.next().map(Into::into)),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    match berth_compose::load(&opts) {
        Ok(p) => {
            for w in &p.warnings {
                eprintln!("WARN {w}");
            }
            print!("{}", berth_compose::config::to_yaml(&p));
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

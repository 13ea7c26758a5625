//! The `watchfire` binary: one executable, several roles (SPEC §1).
//!
//! This file only parses the command line, sets up logging and hands over
//! to the library crates. It is the one place `anyhow` is used.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use watchfire_router::config::Config;

#[derive(Parser)]
#[command(
    name = "watchfire",
    version,
    about = "Observability agent and alert router"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the central router (remote_write ingest, rule evaluation, alerts).
    Router {
        /// The router config file (YAML). See docs/router-config.md.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Local all-in-one mode: the router on ./rules with alerts on the
    /// console and on http://LISTEN/. No external services.
    Up {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9093")]
        listen: String,
        /// Folder of rule files (`*.yml`, `*.yaml`; unit tests in
        /// `tests/` below it are not loaded).
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Folder for durable state.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Rule evaluation interval.
        #[arg(long, default_value = "15s")]
        evaluation_interval: String,
    },
    /// Validate rule files, like `promtool check rules`.
    CheckRules {
        /// Rule files; standard input when none.
        files: Vec<PathBuf>,
        /// Linting checks: none, duplicate-rules or all (comma separated).
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with status 3.
        #[arg(long)]
        lint_fatal: bool,
        /// Ignore unknown fields in rule files.
        #[arg(long)]
        ignore_unknown_fields: bool,
    },
    /// Run rule unit tests in promtool's format, like `promtool test rules`.
    TestRules {
        /// Unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Run only test groups whose name matches this regex (repeatable).
        #[arg(long)]
        run: Vec<String>,
        /// Ignore unknown fields in the test files.
        #[arg(long)]
        ignore_unknown_fields: bool,
    },
    /// Validate a router config file.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckRules {
            files,
            lint,
            lint_fatal,
            ignore_unknown_fields,
        } => {
            let (mode, unknown) = watchfire_rulefmt::LintMode::parse(&lint);
            for u in unknown {
                eprintln!("WARNING: unknown lint option: {u:?}");
            }
            let opts = watchfire_rulefmt::CheckOptions {
                lint: mode,
                lint_fatal,
                ignore_unknown_fields,
                ..Default::default()
            };
            let code = watchfire_rulefmt::check_rules_with_io(
                &files,
                &opts,
                &mut std::io::stdin(),
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            exit(code)
        }
        Command::TestRules {
            files,
            run,
            ignore_unknown_fields,
        } => {
            let opts = watchfire_router::promtool::TestOptions {
                run,
                ignore_unknown_fields,
                ..Default::default()
            };
            let mut out = std::io::stdout().lock();
            let code = watchfire_router::promtool::test_rules(&files, &opts, &mut out);
            let _ = out.flush();
            exit(code)
        }
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(cfg) => {
                println!(
                    "{}: SUCCESS: config is valid ({} rule file patterns, listening on {})",
                    file.display(),
                    cfg.rule_files.len(),
                    cfg.listen_address
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Router { config } => {
            run_server(|| Config::load(&config).map_err(anyhow::Error::from))
        }
        Command::Up {
            listen,
            rules,
            data,
            evaluation_interval,
        } => run_server(|| up_config(&listen, &rules, &data, &evaluation_interval)),
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The embedded defaults of `watchfire up`.
fn up_config(listen: &str, rules: &Path, data: &Path, interval: &str) -> anyhow::Result<Config> {
    if !rules.is_dir() {
        anyhow::bail!(
            "rules folder {} not found: run from the repository root or pass --rules DIR",
            rules.display()
        );
    }
    let yaml = format!(
        "server:\n  listen_address: {listen:?}\nrules:\n  files: [{:?}, {:?}]\n  evaluation_interval: {interval:?}\nstate:\n  path: {:?}\nalerting:\n  console: true\n",
        rules.join("*.yml").display().to_string(),
        rules.join("*.yaml").display().to_string(),
        data.join("router.redb").display().to_string(),
    );
    Config::from_yaml("<watchfire up>", &yaml, Path::new("")).context("building the `up` config")
}

fn run_server(load: impl FnOnce() -> anyhow::Result<Config>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cfg = match load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(watchfire_router::server::run(cfg, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

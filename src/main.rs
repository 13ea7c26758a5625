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
use mimalloc::MiMalloc;
use watchfire_agent::config::AgentConfig;
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
    /// Run the per-node agent (scrape, host metrics, remote_write shipping).
    Agent {
        /// The agent config file (YAML). See docs/agent-config.md.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Local all-in-one mode: the agent (host metrics and its own) shipping
    /// to the router on ./rules, alerts on the console and on
    /// http://LISTEN/. No external services.
    Up {
        /// Address the router listens on.
        #[arg(long, default_value = "127.0.0.1:9093")]
        listen: String,
        /// Address the agent listens on (`/metrics` with host metrics).
        #[arg(long, default_value = "127.0.0.1:9464")]
        agent_listen: String,
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
    /// Validate a router or agent config file.
    CheckConfig {
        /// The config file.
        file: PathBuf,
        /// Which config it is; by default an agent config is recognised by
        /// a top-level `remote_write:`, `scrape_configs:` or `host:` key.
        #[arg(long, value_parser = ["router", "agent"])]
        role: Option<String>,
    },
    /// Redact log lines from standard input to standard output (one line
    /// out per line in; a dropped record is an empty line). See
    /// docs/redaction.md.
    Redact {
        /// Redaction config (YAML, the agent's `redaction:` section);
        /// built-in defaults when absent.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Inspect an alertmanager.yml routing tree, like `amtool config
    /// routes`.
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Print the routing tree (`amtool config routes show`).
    Show {
        /// The alertmanager.yml to read.
        #[arg(long = "config.file")]
        config_file: PathBuf,
    },
    /// Print the receivers a label set routes to (`amtool config routes
    /// test`); exits 1 when `--verify.receivers` does not match.
    Test {
        /// The alertmanager.yml to read.
        #[arg(long = "config.file")]
        config_file: PathBuf,
        /// Print the matching routes as a tree.
        #[arg(long)]
        tree: bool,
        /// Expected receivers, comma separated (in routing order).
        #[arg(long = "verify.receivers")]
        verify_receivers: Option<String>,
        /// Labels as `name=value` (value may be quoted).
        labels: Vec<String>,
    },
}

/// mimalloc instead of glibc's malloc: the agent's scrape path and the
/// router's ingestion allocate and free many small objects from many
/// threads, where glibc's per-thread arenas cost CPU and hold memory
/// (see docs/PERFORMANCE.md for the measured difference). Built with
/// `no_thp`: mimalloc otherwise asks for transparent huge pages, so the
/// first touch of each 2 MiB region zeroes all of it, which raised the
/// router's RSS with 100k alerts by ~20 MiB and its idle RSS by ~18 MiB.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

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
        Command::CheckConfig { file, role } => check_config(&file, role.as_deref()),
        Command::Redact { config } => run_redact(config.as_deref()),
        Command::Routes { command } => run_routes(command),
        Command::Router { config } => {
            run_server(|| Config::load(&config).map_err(anyhow::Error::from))
        }
        Command::Agent { config } => run_agent(&config),
        Command::Up {
            listen,
            agent_listen,
            rules,
            data,
            evaluation_interval,
        } => run_up(&listen, &agent_listen, &rules, &data, &evaluation_interval),
    }
}

fn check_config(file: &Path, role: Option<&str>) -> ExitCode {
    let is_agent = match role {
        Some(r) => r == "agent",
        None => std::fs::read_to_string(file)
            .map(|t| {
                t.lines().any(|l| {
                    l.starts_with("remote_write:")
                        || l.starts_with("scrape_configs:")
                        || l.starts_with("host:")
                })
            })
            .unwrap_or(false),
    };
    let result = if is_agent {
        AgentConfig::load(file)
            .map(|cfg| {
                format!(
                    "agent config is valid ({} scrape jobs, host collector {}, shipping to {})",
                    cfg.scrape.len(),
                    if cfg.host.is_some() { "on" } else { "off" },
                    cfg.remote_write.url
                )
            })
            .map_err(|e| e.to_string())
    } else {
        Config::load(file)
            .map(|cfg| {
                format!(
                    "router config is valid ({} rule file patterns, listening on {})",
                    cfg.rule_files.len(),
                    cfg.listen_address
                )
            })
            .map_err(|e| e.to_string())
    };
    match result {
        Ok(msg) => {
            println!("{}: SUCCESS: {msg}", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `watchfire routes show|test`: amtool's output on standard output;
/// errors (config errors as `file:line:col: message`) on standard error
/// with exit status 1.
fn run_routes(command: RoutesCommand) -> ExitCode {
    let (file, test) = match command {
        RoutesCommand::Show { config_file } => (config_file, None),
        RoutesCommand::Test {
            config_file,
            tree,
            verify_receivers,
            labels,
        } => (config_file, Some((tree, verify_receivers, labels))),
    };
    let cfg = match watchfire_amconfig::load_file(&file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some((tree, verify, labels)) = test else {
        print!("{}", watchfire_amconfig::format_routes_show(&cfg));
        return ExitCode::SUCCESS;
    };
    let labels = match watchfire_amconfig::parse_label_args(&labels) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = watchfire_amconfig::format_routes_test(&cfg, &labels, tree, verify.as_deref());
    print!("{}", out.stdout);
    if out.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `watchfire redact`: stdin to stdout, line by line, failing closed.
fn run_redact(config: Option<&Path>) -> ExitCode {
    use std::io::BufRead;
    let cfg = match config {
        Some(p) => watchfire_redact::RedactionConfig::load(p),
        None => Ok(watchfire_redact::RedactionConfig::default()),
    };
    let redactor = match cfg
        .map_err(anyhow::Error::from)
        .and_then(|c| Ok(watchfire_redact::Redactor::new(&c)?))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut stats = redactor.stats();
    let mut input = std::io::BufReader::new(std::io::stdin().lock());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut records, mut line) = (0u64, Vec::new());
    let result: std::io::Result<()> = (|| {
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                return out.flush();
            }
            records += 1;
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            // A record that cannot be redacted is dropped: an empty line
            // keeps the line correspondence.
            if let Ok(red) = redactor.redact_bytes(body, &mut stats) {
                out.write_all(red.as_bytes())?;
            }
            out.write_all(b"\n")?;
        }
    })();
    let drops: Vec<String> = stats
        .drops()
        .filter(|(_, n)| *n > 0)
        .map(|(why, n)| format!("{why}={n}"))
        .collect();
    eprintln!(
        "watchfire redact: {records} records, {} redactions, {} dropped{}",
        stats.total(),
        stats.dropped(),
        if drops.is_empty() {
            String::new()
        } else {
            format!(" ({})", drops.join(", "))
        }
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
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

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Builds the runtime and runs `f` on it, mapping errors to exit codes.
fn block_on<F>(f: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(load: impl FnOnce() -> anyhow::Result<Config>) -> ExitCode {
    init_logging();
    let cfg = match load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    block_on(async move { Ok(watchfire_router::server::run(cfg, shutdown_signal()).await?) })
}

fn run_agent(path: &Path) -> ExitCode {
    init_logging();
    let cfg = match AgentConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    block_on(async move {
        Ok(watchfire_agent::run::run(cfg, prometheus::Registry::new(), shutdown_signal()).await?)
    })
}

/// The embedded agent config of `watchfire up`: host metrics and the
/// agent's own, shipped to the in-process router.
fn up_agent_config(
    agent_listen: &str,
    router: std::net::SocketAddr,
    data: &Path,
) -> anyhow::Result<AgentConfig> {
    let yaml = format!(
        "server:\n  listen_address: {agent_listen:?}\nremote_write:\n  url: \"http://{router}/api/v1/write\"\n  queue:\n    batch_send_deadline: 1s\n  buffer:\n    path: {:?}\n",
        data.join("agent-buffer.redb").display().to_string(),
    );
    AgentConfig::from_yaml("<watchfire up>", &yaml).context("building the `up` agent config")
}

fn run_up(listen: &str, agent_listen: &str, rules: &Path, data: &Path, interval: &str) -> ExitCode {
    init_logging();
    let configs = up_config(listen, rules, data, interval).and_then(|router| {
        Ok((
            up_agent_config(agent_listen, router.listen_address, data)?,
            router,
        ))
    });
    let (agent, router) = match configs {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(data) {
        eprintln!("error: creating {}: {e}", data.display());
        return ExitCode::FAILURE;
    }
    block_on(async move {
        let (agent_tx, agent_rx) = tokio::sync::watch::channel(false);
        let (router_tx, router_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.changed().await;
        };
        let router_task = tokio::spawn(watchfire_router::server::run(router, stopped(router_rx)));
        let agent_task = tokio::spawn(watchfire_agent::run::run(
            agent,
            prometheus::Registry::new(),
            stopped(agent_rx),
        ));
        shutdown_signal().await;
        // The agent first, so its last samples and staleness markers reach
        // the router before the router stops.
        let _ = agent_tx.send(true);
        let agent_result = agent_task.await.context("agent task");
        let _ = router_tx.send(true);
        agent_result??;
        router_task.await.context("router task")??;
        Ok(())
    })
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

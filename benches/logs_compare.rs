//! Side-by-side harness for the log pipeline (SPEC §6 row "logs"): MiB/s
//! on one core for tail → parse JSON → redact (default rules) → sink,
//! against `cat file > /dev/null` and rsyslog (`imfile` → `omfile`, Debian's
//! `rsyslogd`) on the same file.
//!
//! 1. Generates a JSON-lines log of `LOGS_COMPARE_MIB` MiB (default 1024)
//!    deterministically: structured application records (timestamp,
//!    level, logger, service, request/trace/span ids, message, HTTP fields,
//!    user agents), some multi-line stack traces (escaped `\n\tat …`), and
//!    a minority of records carrying PII (emails, Luhn-valid card numbers,
//!    IPv4/IPv6 client addresses, phone numbers, `Authorization: Bearer
//!    <JWT>` headers, `token`/`password` fields).
//! 2. `taskset -c 0 cat file` (stdout to `/dev/null`), twice; the second
//!    (warm page cache) is reported.
//! 3. `taskset -c 0 watchfire agent` with a `logs:` section (`format:
//!    json`, `read_from: beginning`, default redaction) three times, each
//!    from a fresh checkpoint file, until its `/metrics` show every line
//!    read and none in flight (every line acknowledged by the sink):
//!    - the headline: `sinks: { blackhole: {} }` (tail → JSON → redact →
//!      null sink);
//!    - `sinks: { file: … }` (fsync'd per batch);
//!    - `sinks: { kafka: … }` to `rdkafka::mocking::MockCluster` started in
//!      this process (one broker, 4 partitions, on loopback; its threads
//!      are not pinned), acknowledged only by delivery reports (`acks=all`,
//!      idempotent producer, lz4).
//! 4. `taskset -c 0 rsyslogd -n` with `imfile` → `omfile` (raw `%msg%`
//!    template), until its output holds every line.
//! 5. With Debian's `rsyslog-kafka`: `rsyslogd` with `imfile` → `omkafka`
//!    to a fresh mock cluster (acks=all, idempotence, lz4, as our sink),
//!    until the topic's high watermarks add up to every line: the Kafka
//!    pipeline's peer. Skipped, with a note, when the module is missing.
//!
//! Inputs and outputs live in one temporary directory, under `/dev/shm`
//! when it exists (so neither side waits on a disk: the file sink fsyncs
//! every batch, which is free on tmpfs). For each run it prints wall time,
//! MiB/s of input, CPU-seconds (utime + stime of the process, from
//! `/proc/<pid>/stat`; for `cat`, the reaped child's) and the ratios.
//!
//! Run: `cargo bench --bench logs_compare` (needs `rsyslogd`:
//! `apt-get install -y rsyslog rsyslog-kafka`; a quick run: `LOGS_COMPARE_MIB=128`;
//! `LOGS_COMPARE_WRITE_INPUT=path` only writes the input file, for
//! profiling by hand).
//! Exits non-zero when rsyslog is missing or a side did not deliver every
//! line.

#![forbid(unsafe_code)]

#[path = "common/proc.rs"]
mod proc_util;

use proc_util::{check_agent_config, clk_tck, free_port, stat_pair, Proc};
use rdkafka::mocking::MockCluster;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
/// Give up on a side after this long without progress.
const STALL: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);
const KAFKA_TOPIC: &str = "logs";
const KAFKA_PARTITIONS: i32 = 4;

/// xorshift64*: deterministic, fast, good enough for synthetic logs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// `true` with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn hex(&mut self, out: &mut String, n: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for _ in 0..n {
            out.push(char::from(HEX[self.below(16) as usize]));
        }
    }

    fn alnum(&mut self, out: &mut String, n: usize) {
        const AL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for _ in 0..n {
            out.push(char::from(AL[self.below(64) as usize]));
        }
    }
}

const SERVICES: &[&str] = &[
    "checkout",
    "orders",
    "payments",
    "inventory",
    "gateway",
    "search",
    "auth",
    "shipping",
];
const LOGGERS: &[&str] = &[
    "http.access",
    "db.pool",
    "cache",
    "worker.queue",
    "upstream.client",
    "app",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH"];
const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/cart/items",
    "/api/v2/search",
    "/api/v1/users/me",
    "/healthz",
    "/api/v1/payments/intent",
    "/static/app.js",
    "/graphql",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
    "python-requests/2.31.0",
];
const MESSAGES: &[&str] = &[
    "request completed",
    "cache miss, loading from database",
    "retrying upstream call to inventory-svc (attempt 2/3)",
    "order state changed from pending to confirmed",
    "db query slow: SELECT id, status FROM orders WHERE customer_id = $1 LIMIT 50",
    "connection pool exhausted, waiting for a free connection",
    "published event order.created to topic orders-v2",
    "feature flag new-checkout evaluated to true for cohort B",
    "rate limit reached for tenant acme-corp, throttling",
    "scheduled job reindex-products finished in 4.2s",
];
const FIRST: &[&str] = &[
    "jane", "john", "maria", "wei", "olga", "ahmed", "lena", "raj",
];
const LAST: &[&str] = &["doe", "smith", "garcia", "chen", "petrova", "khan", "meyer"];
const DOMAINS: &[&str] = &["example.com", "mail.example.org", "corp.example.net"];

/// A Luhn-valid 16-digit Visa-like number, grouped by four.
fn card(rng: &mut Rng, out: &mut String) {
    let mut d = [0u8; 16];
    d[0] = 4;
    for x in d.iter_mut().take(15).skip(1) {
        *x = rng.below(10) as u8;
    }
    let mut sum = 0u32;
    for (i, x) in d[..15].iter().rev().enumerate() {
        let mut v = u32::from(*x);
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    d[15] = ((10 - sum % 10) % 10) as u8;
    for (i, x) in d.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(char::from(b'0' + x));
    }
}

/// One log record (without its newline).
fn record(rng: &mut Rng, n: u64, out: &mut String) {
    let ms = 1_795_000_000_000u64 + n * 3 + rng.below(3);
    let (secs, milli) = (ms / 1000, ms % 1000);
    let sod = secs % 86_400;
    let level = match rng.below(100) {
        0..=69 => "info",
        70..=84 => "debug",
        85..=94 => "warn",
        _ => "error",
    };
    let service = rng.pick(SERVICES);
    let _ = write!(
        out,
        r#"{{"ts":"2026-11-22T{:02}:{:02}:{:02}.{milli:03}Z","level":"{level}","logger":"{}","service":"{service}","env":"prod","request_id":""#,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        rng.pick(LOGGERS)
    );
    rng.hex(out, 8);
    out.push('-');
    rng.hex(out, 4);
    out.push_str("-4");
    rng.hex(out, 3);
    out.push('-');
    rng.hex(out, 4);
    out.push('-');
    rng.hex(out, 12);
    out.push_str(r#"","trace_id":""#);
    rng.hex(out, 32);
    out.push_str(r#"","span_id":""#);
    rng.hex(out, 16);
    out.push_str(r#"","msg":""#);
    let user = rng.below(900_000) + 1000;
    match rng.below(1000) {
        // PII in the message: about 5 % of records.
        0..=24 => {
            let _ = write!(
                out,
                "password reset requested for {}.{}{}@{}",
                rng.pick(FIRST),
                rng.pick(LAST),
                rng.below(100),
                rng.pick(DOMAINS)
            );
        }
        25..=34 => {
            out.push_str("charge declined for card ");
            card(rng, out);
            let _ = write!(out, " (user {user})");
        }
        35..=39 => {
            let _ = write!(
                out,
                "sms verification sent to +1415555{:04}",
                rng.below(10_000)
            );
        }
        40..=49 => {
            let _ = write!(
                out,
                "login from new device for user {user}, ip 198.51.100.{}",
                rng.below(254) + 1
            );
        }
        // A stack trace: escapes, no PII. About 2 %.
        50..=69 => {
            out.push_str(r"unhandled exception: java.lang.IllegalStateException: order not found\n\tat com.example.orders.OrderService.load(OrderService.java:118)\n\tat com.example.orders.OrderController.get(OrderController.java:42)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)");
        }
        _ => out.push_str(rng.pick(MESSAGES)),
    }
    let _ = write!(
        out,
        r#"","user_id":{user},"http":{{"method":"{}","path":"{}/{}","status":{},"duration_ms":{}.{:03},"bytes_out":{},"user_agent":"{}""#,
        rng.pick(METHODS),
        rng.pick(PATHS),
        rng.below(100_000),
        [200, 200, 200, 201, 204, 304, 400, 404, 500][rng.below(9) as usize],
        rng.below(900),
        rng.below(1000),
        rng.below(200_000),
        rng.pick(AGENTS)
    );
    // Client addresses: about 3 % IPv4, 0.5 % IPv6.
    if rng.chance(30) {
        let _ = write!(
            out,
            r#","client_ip":"203.0.{}.{}""#,
            rng.below(256),
            rng.below(254) + 1
        );
    } else if rng.chance(5) {
        let _ = write!(
            out,
            r#","client_ip":"2001:db8:85a3::8a2e:370:{:x}""#,
            rng.below(0xffff)
        );
    }
    // Credentials in headers and fields: about 1.5 %.
    if rng.chance(10) {
        out.push_str(
            r#","headers":{"authorization":"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."#,
        );
        rng.alnum(out, 48);
        out.push('.');
        rng.alnum(out, 43);
        out.push_str(r#"","accept":"application/json"}"#);
    } else if rng.chance(5) {
        out.push_str(r#","token":""#);
        rng.alnum(out, 32);
        out.push('"');
    }
    out.push_str("}}");
}

/// Writes about `mib` MiB of records to `path`; returns (bytes, lines).
fn generate(path: &Path, mib: u64) -> (u64, u64) {
    let target = mib << 20;
    let f = std::fs::File::create(path).expect("create input");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut rng = Rng(0x5eed_1095_0fc0_ffee);
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut line = String::with_capacity(1024);
    while bytes < target {
        line.clear();
        record(&mut rng, lines, &mut line);
        line.push('\n');
        w.write_all(line.as_bytes()).expect("write input");
        bytes += line.len() as u64;
        lines += 1;
    }
    w.flush().expect("flush input");
    (bytes, lines)
}

/// Newlines in a file.
fn count_lines(path: &Path) -> u64 {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return 0;
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += buf[..k].iter().filter(|b| **b == b'\n').count() as u64,
        }
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// One measured run.
struct Run {
    name: String,
    secs: f64,
    cpu: f64,
    lines_out: u64,
    note: String,
}

fn run_cat(input: &Path, tck: f64) -> Run {
    let me = std::process::id();
    let c0 = stat_pair(me, 16);
    let t0 = Instant::now();
    let status = Command::new("taskset")
        .args(["-c", "0", "cat"])
        .arg(input)
        .stdout(Stdio::null())
        .status()
        .expect("run cat");
    let secs = t0.elapsed().as_secs_f64();
    assert!(status.success(), "cat failed");
    Run {
        name: "cat file > /dev/null".into(),
        secs,
        cpu: (stat_pair(me, 16) - c0) as f64 / tck,
        lines_out: 0,
        note: String::new(),
    }
}

/// The sum of every series of metric `name` on a `/metrics` page.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// Where the agent's records go in one run.
#[derive(Clone, Copy)]
enum Dest<'a> {
    /// `sinks: { blackhole: {} }`: the pipeline alone.
    Blackhole,
    /// `sinks: { file: … }`, fsync'd per batch (free on tmpfs).
    File,
    /// `sinks: { kafka: … }` to the in-process mock cluster at `brokers`.
    Kafka { brokers: &'a str },
}

fn run_ours(dir: &Path, input: &Path, lines: u64, tck: f64, dest: Dest<'_>) -> Run {
    let port = free_port();
    let out = dir.join("ours.out");
    let (sink, name) = match dest {
        Dest::Blackhole => (
            "    blackhole: {}\n".to_string(),
            "watchfire agent (json → redact → blackhole sink)",
        ),
        Dest::File => (
            format!("    file: {{ path: {:?} }}\n", out.display().to_string()),
            "watchfire agent (json → redact → file sink)",
        ),
        Dest::Kafka { brokers } => (
            format!("    kafka: {{ brokers: [{brokers:?}], topic: {KAFKA_TOPIC:?} }}\n"),
            "watchfire agent (json → redact → Kafka sink, mock cluster)",
        ),
    };
    let _ = std::fs::remove_file(dir.join("logs.redb"));
    let cfg = dir.join("agent.yaml");
    std::fs::write(
        &cfg,
        format!(
            "server: {{ listen_address: \"127.0.0.1:{port}\" }}\n\
             host: {{ enabled: false }}\n\
             remote_write:\n  url: http://127.0.0.1:9/write\n  buffer: {{ path: {:?} }}\n\
             logs:\n  include: [{:?}]\n  format: json\n  read_from: beginning\n\
             \x20 checkpoint_path: {:?}\n  sinks:\n{sink}",
            dir.join("buf.redb").display().to_string(),
            input.display().to_string(),
            dir.join("logs.redb").display().to_string(),
        ),
    )
    .expect("write agent config");
    check_agent_config(&cfg);
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let t0 = Instant::now();
    let agent = Proc(
        Command::new("taskset")
            .args(["-c", "0"])
            .arg(env!("CARGO_BIN_EXE_watchfire"))
            .arg("agent")
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn watchfire agent"),
    );
    let pid = agent.0.id();
    let (mut last, mut last_change) = (-1.0, Instant::now());
    let mut page = String::new();
    let complete = loop {
        std::thread::sleep(POLL);
        if let Ok(text) = client.get(&url).send().and_then(|r| r.text()) {
            let read = metric_sum(&text, "watchfire_agent_log_lines_read_total");
            let in_flight = metric_sum(&text, "watchfire_agent_log_lines_in_flight");
            page = text;
            if read >= lines as f64 && in_flight == 0.0 {
                break true;
            }
            if read != last {
                (last, last_change) = (read, Instant::now());
            }
        }
        if last_change.elapsed() > STALL {
            break false;
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu = stat_pair(pid, 14) as f64 / tck;
    drop(agent);
    let redactions = metric_sum(&page, "watchfire_redactions_total");
    let dropped = metric_sum(&page, "watchfire_agent_log_lines_dropped_total") + 0.0;
    let sent = metric_sum(&page, "watchfire_agent_log_sink_sent_total");
    let (lines_out, out_note) = match dest {
        Dest::File => (
            count_lines(&out),
            format!("output {:.0} MiB", file_size(&out) as f64 / 1048576.0),
        ),
        Dest::Blackhole => (sent as u64, "acknowledged by the sink".to_string()),
        Dest::Kafka { .. } => (
            sent as u64,
            "every delivery report received (acks=all)".to_string(),
        ),
    };
    let note = format!(
        "{}redactions {redactions:.0}, dropped {dropped:.0}, {out_note}",
        if complete { "" } else { "STALLED; " },
    );
    let _ = std::fs::remove_file(&out);
    Run {
        name: name.into(),
        secs,
        cpu,
        lines_out,
        note,
    }
}

/// `rsyslogd -n -f conf`, pinned to core 0.
fn spawn_rsyslog(conf: &Path, pidfile: &Path) -> Proc {
    Proc(
        Command::new("taskset")
            .args(["-c", "0", RSYSLOGD, "-n", "-f"])
            .arg(conf)
            .arg("-i")
            .arg(pidfile)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rsyslogd"),
    )
}

/// Polls `progress` every `every` until it reaches `target` (true) or
/// stops moving for [`STALL`] (false); also returns the last value.
fn wait_for(target: u64, every: Duration, mut progress: impl FnMut() -> u64) -> (bool, u64) {
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        std::thread::sleep(every);
        let now = progress();
        if now >= target {
            return (true, now);
        }
        if now != last {
            (last, last_change) = (now, Instant::now());
        }
        if last_change.elapsed() > STALL {
            return (false, now);
        }
    }
}

/// Writes `<name>.conf` (and makes `<name>-work`): imfile reads `input`
/// into one ruleset whose only action is `action`, through a template
/// named `raw` with the given string; `modules` loads what the action
/// needs.
fn rsyslog_conf(
    dir: &Path,
    name: &str,
    input: &Path,
    modules: &str,
    template: &str,
    action: &str,
) -> PathBuf {
    let work = dir.join(format!("{name}-work"));
    std::fs::create_dir_all(&work).expect("rsyslog work dir");
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{}\" maxMessageSize=\"64k\")\n\
             module(load=\"imfile\")\n\
             {modules}\
             template(name=\"raw\" type=\"string\" string=\"{template}\")\n\
             input(type=\"imfile\" file=\"{}\" tag=\"app\" ruleset=\"out\")\n\
             ruleset(name=\"out\") {{ {action} }}\n",
            work.display(),
            input.display(),
        ),
    )
    .expect("write rsyslog config");
    conf
}

fn run_rsyslog(dir: &Path, input: &Path, bytes: u64, tck: f64) -> Run {
    let out = dir.join("rsyslog.out");
    let conf = rsyslog_conf(
        dir,
        "rsyslog",
        input,
        "",
        "%msg%\\n",
        &format!(
            "action(type=\"omfile\" file=\"{}\" template=\"raw\")",
            out.display()
        ),
    );
    let t0 = Instant::now();
    let rsyslog = spawn_rsyslog(&conf, &dir.join("rsyslog.pid"));
    let pid = rsyslog.0.id();
    let (complete, _) = wait_for(bytes, POLL, || file_size(&out));
    let secs = t0.elapsed().as_secs_f64();
    let cpu = stat_pair(pid, 14) as f64 / tck;
    drop(rsyslog);
    let lines_out = count_lines(&out);
    let note = format!(
        "{}no parsing or redaction; output {:.0} MiB",
        if complete { "" } else { "STALLED; " },
        file_size(&out) as f64 / 1048576.0
    );
    let _ = std::fs::remove_file(&out);
    Run {
        name: "rsyslogd (imfile → omfile)".into(),
        secs,
        cpu,
        lines_out,
        note,
    }
}

/// Debian's `rsyslog-kafka` module.
const OMKAFKA: &str = "/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so";

/// Messages in `topic` on `brokers`: the sum of the partitions' high
/// watermarks (what has been appended, whoever produced it).
fn kafka_messages(consumer: &rdkafka::consumer::BaseConsumer, topic: &str) -> u64 {
    use rdkafka::consumer::Consumer as _;
    (0..KAFKA_PARTITIONS)
        .filter_map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .ok()
        })
        .map(|(_, high)| high.max(0) as u64)
        .sum()
}

/// The Kafka peer: `rsyslogd` with `imfile` → `omkafka` (Debian's
/// `rsyslog-kafka`) to a fresh mock cluster, with the producer settings
/// our sink uses (acks=all, idempotence, lz4). Done when the topic holds
/// every line. `None` when the module is not installed.
fn run_rsyslog_kafka(dir: &Path, input: &Path, lines: u64, tck: f64) -> Option<Run> {
    use rdkafka::config::ClientConfig;
    if !Path::new(OMKAFKA).exists() {
        eprintln!("logs_compare: {OMKAFKA} not found (apt-get install -y rsyslog-kafka): no rsyslog Kafka row");
        return None;
    }
    let cluster = MockCluster::new(1).expect("kafka mock cluster");
    cluster
        .create_topic(KAFKA_TOPIC, KAFKA_PARTITIONS, 1)
        .expect("kafka mock topic");
    let brokers = cluster.bootstrap_servers();
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("watermark client");
    let conf = rsyslog_conf(
        dir,
        "rsyslog-kafka",
        input,
        "module(load=\"omkafka\")\n",
        "%msg%",
        &format!(
            "action(type=\"omkafka\" broker=[\"{brokers}\"] \
             topic=\"{KAFKA_TOPIC}\" template=\"raw\" partitions.auto=\"on\" \
             confParam=[\"compression.codec=lz4\", \"enable.idempotence=true\", \"acks=all\"])"
        ),
    );
    let t0 = Instant::now();
    let rsyslog = spawn_rsyslog(&conf, &dir.join("rsyslog-kafka.pid"));
    let pid = rsyslog.0.id();
    // Watermark queries cost a round trip each: poll less often.
    let (complete, seen) = wait_for(lines, POLL * 10, || kafka_messages(&consumer, KAFKA_TOPIC));
    let secs = t0.elapsed().as_secs_f64();
    let cpu = stat_pair(pid, 14) as f64 / tck;
    drop(rsyslog);
    Some(Run {
        name: "rsyslogd (imfile → omkafka, mock cluster)".into(),
        secs,
        cpu,
        lines_out: seen,
        note: format!(
            "{}no parsing or redaction; acks=all, idempotent, lz4; messages counted by the topic's watermarks",
            if complete { "" } else { "STALLED; " }
        ),
    })
}

fn main() {
    if !Path::new(RSYSLOGD).exists() {
        eprintln!(
            "logs_compare: {RSYSLOGD} not found; install it with `apt-get install -y rsyslog` \
             (and make sure no rsyslog service is left running)"
        );
        std::process::exit(2);
    }
    let mib: u64 = std::env::var("LOGS_COMPARE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let tck = clk_tck();
    let base: PathBuf = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::tempdir_in(&base).expect("tempdir");
    let input = dir.path().join("app.log");
    if let Ok(keep) = std::env::var("LOGS_COMPARE_WRITE_INPUT") {
        // Only write the input (for profiling by hand), then stop.
        let (bytes, lines) = generate(Path::new(&keep), mib);
        println!("wrote {bytes} bytes, {lines} lines to {keep}");
        return;
    }
    let t0 = Instant::now();
    let (bytes, lines) = generate(&input, mib);
    let in_mib = bytes as f64 / 1048576.0;
    println!(
        "input: {in_mib:.0} MiB, {lines} JSON lines ({:.0} B/line), generated in {:.1}s, in {}",
        bytes as f64 / lines as f64,
        t0.elapsed().as_secs_f64(),
        dir.path().display()
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());

    let _ = run_cat(&input, tck);
    let cat = run_cat(&input, tck);
    let ours = run_ours(dir.path(), &input, lines, tck, Dest::Blackhole);
    let file = run_ours(dir.path(), &input, lines, tck, Dest::File);
    let rsyslog = run_rsyslog(dir.path(), &input, bytes, tck);
    let kafka = {
        // The mock cluster's broker threads run in this process, on the
        // other core; only the agent is pinned.
        let cluster = MockCluster::new(1).expect("kafka mock cluster");
        cluster
            .create_topic(KAFKA_TOPIC, KAFKA_PARTITIONS, 1)
            .expect("kafka mock topic");
        let brokers = cluster.bootstrap_servers();
        run_ours(
            dir.path(),
            &input,
            lines,
            tck,
            Dest::Kafka { brokers: &brokers },
        )
    };

    let rsyslog_kafka = run_rsyslog_kafka(dir.path(), &input, lines, tck);

    println!("agent and peers pinned to one core (taskset -c 0); CLK_TCK {tck}");
    println!("| | wall s | MiB/s | CPU-s | MiB per CPU-s | lines out | notes |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut rows = vec![&cat, &ours, &file, &kafka, &rsyslog];
    rows.extend(rsyslog_kafka.as_ref());
    for r in rows {
        println!(
            "| {} | {:.2} | {:.1} | {:.2} | {:.1} | {} | {} |",
            r.name,
            r.secs,
            in_mib / r.secs,
            r.cpu,
            in_mib / r.cpu.max(1e-9),
            if r.lines_out > 0 {
                r.lines_out.to_string()
            } else {
                "-".into()
            },
            r.note
        );
    }
    let ours_rate = in_mib / ours.secs;
    println!(
        "ours / cat: {:.3} of cat's MiB/s; ours / rsyslog: {:.2}x MiB/s, {:.2}x CPU-s",
        ours_rate / (in_mib / cat.secs),
        rsyslog.secs / ours.secs,
        ours.cpu / rsyslog.cpu.max(1e-9)
    );
    println!(
        "file sink / rsyslog: {:.2}x MiB/s; kafka sink / rsyslog: {:.2}x MiB/s",
        rsyslog.secs / file.secs,
        rsyslog.secs / kafka.secs
    );
    if let Some(rk) = &rsyslog_kafka {
        println!(
            "kafka sink / rsyslog omkafka (same mock cluster settings): {:.2}x MiB/s, {:.2}x CPU-s",
            rk.secs / kafka.secs,
            kafka.cpu / rk.cpu.max(1e-9)
        );
    }
    println!(
        "target ≥ 150 MiB/s (blackhole): {}; ahead of rsyslog: {}",
        if ours_rate >= 150.0 { "met" } else { "MISSED" },
        if ours.secs < rsyslog.secs {
            "yes"
        } else {
            "NO"
        }
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
    let mut delivered = vec![&ours, &file, &kafka, &rsyslog];
    delivered.extend(rsyslog_kafka.as_ref());
    let short: Vec<&str> = delivered
        .iter()
        .filter(|r| r.lines_out != lines)
        .map(|r| r.name.as_str())
        .collect();
    if !short.is_empty() {
        eprintln!("logs_compare: {short:?} did not deliver all {lines} lines; comparison void");
        std::process::exit(1);
    }
}

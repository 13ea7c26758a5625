//! `netdev`: per-interface counters as `node_network_<dir>_<stat>_total{device}`.
//!
//! node_exporter (≥1.4) reads these over rtnetlink and folds the detailed
//! error counters into the classic `/proc/net/dev` columns (`receive_drop`
//! = dropped + missed, `receive_frame` = frame + length + over + crc,
//! `transmit_carrier` = carrier + aborted + heartbeat + window), which is
//! exactly what the kernel prints in `/proc/net/dev`. So we parse that file
//! (header-driven, so column names come from the kernel) and add
//! `receive_nohandler` from `/sys/class/net/<dev>/statistics/rx_nohandler`,
//! the one netlink field `/proc/net/dev` lacks.
//!
//! Upstream's default `--collector.netdev.device-exclude` is empty (Debian
//! patches it to `^lo$`); ours is empty too.

use std::path::Path;

use super::{read, read_parse, Emitter, HostError, MetricType, ParseError};

/// One interface's counters, keyed like node_exporter (`receive_bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevStats {
    pub device: String,
    pub stats: Vec<(String, u64)>,
}

/// Parses `/proc/net/dev`.
pub fn parse_net_dev(text: &str) -> Result<Vec<NetDevStats>, ParseError> {
    let mut lines = text.lines().enumerate();
    lines.next(); // "Inter-|   Receive ...|  Transmit"
    let (_, header) = lines
        .next()
        .ok_or_else(|| ParseError::new(2, "missing column header line"))?;
    let parts: Vec<&str> = header.split('|').collect();
    if parts.len() != 3 {
        return Err(ParseError::new(
            2,
            format!("invalid header line {header:?}"),
        ));
    }
    let rx: Vec<&str> = parts[1].split_whitespace().collect();
    let tx: Vec<&str> = parts[2].split_whitespace().collect();
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let (dev, rest) = line
            .split_once(':')
            .ok_or_else(|| ParseError::new(i + 1, format!("no ':' in {line:?}")))?;
        let values: Vec<&str> = rest.split_whitespace().collect();
        if values.len() != rx.len() + tx.len() {
            return Err(ParseError::new(
                i + 1,
                format!(
                    "expected {} values, found {}",
                    rx.len() + tx.len(),
                    values.len()
                ),
            ));
        }
        let mut stats = Vec::with_capacity(values.len());
        let names = rx
            .iter()
            .map(|h| format!("receive_{h}"))
            .chain(tx.iter().map(|h| format!("transmit_{h}")));
        for (name, raw) in names.zip(values) {
            let v = raw
                .parse()
                .map_err(|_| ParseError::new(i + 1, format!("invalid value {raw:?}")))?;
            stats.push((name, v));
        }
        out.push(NetDevStats {
            device: dev.trim().to_string(),
            stats,
        });
    }
    Ok(out)
}

/// Emits the counters of the devices not excluded.
pub fn emit(devs: &[NetDevStats], exclude: Option<&regex::Regex>, em: &mut Emitter) {
    for d in devs {
        if exclude.is_some_and(|re| re.is_match(&d.device)) {
            continue;
        }
        for (key, v) in &d.stats {
            let name = format!("node_network_{key}_total");
            let help = format!("Network device statistic {key}.");
            em.add(
                &name,
                &help,
                MetricType::Counter,
                &[("device", &d.device)],
                *v as f64,
            );
        }
    }
}

pub(super) fn collect(
    proc: &Path,
    sys: &Path,
    exclude: Option<&regex::Regex>,
    em: &mut Emitter,
) -> Result<(), HostError> {
    let mut devs = read_parse(&proc.join("net/dev"), parse_net_dev)?;
    for d in &mut devs {
        let path = sys
            .join("class/net")
            .join(&d.device)
            .join("statistics/rx_nohandler");
        match read(&path) {
            Ok(s) => match s.trim().parse::<u64>() {
                Ok(v) => d.stats.push(("receive_nohandler".to_string(), v)),
                Err(_) => tracing::debug!(path = %path.display(), "unparsable rx_nohandler"),
            },
            Err(e) => tracing::debug!(error = %e, "no rx_nohandler"),
        }
    }
    emit(&devs, exclude, em);
    Ok(())
}

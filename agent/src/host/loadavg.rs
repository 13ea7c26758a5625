//! `loadavg`: `node_load1`, `node_load5`, `node_load15` from `/proc/loadavg`.

use std::path::Path;

use super::{read_parse, Emitter, HostError, MetricType, ParseError};

/// Parses the first three fields of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Result<[f64; 3], ParseError> {
    let mut f = text.split_whitespace();
    let mut out = [0.0; 3];
    for slot in out.iter_mut() {
        let raw = f
            .next()
            .ok_or_else(|| ParseError::new(1, "fewer than 3 fields"))?;
        *slot = raw
            .parse()
            .map_err(|_| ParseError::new(1, format!("invalid load {raw:?}")))?;
    }
    Ok(out)
}

/// Emits the three gauges.
pub fn emit(loads: [f64; 3], em: &mut Emitter) {
    let [l1, l5, l15] = loads;
    em.add("node_load1", "1m load average.", MetricType::Gauge, &[], l1);
    em.add("node_load5", "5m load average.", MetricType::Gauge, &[], l5);
    em.add(
        "node_load15",
        "15m load average.",
        MetricType::Gauge,
        &[],
        l15,
    );
}

pub(super) fn collect(proc: &Path, em: &mut Emitter) -> Result<(), HostError> {
    emit(read_parse(&proc.join("loadavg"), parse_loadavg)?, em);
    Ok(())
}

//! `filefd`: `node_filefd_allocated` and `node_filefd_maximum` from
//! `/proc/sys/fs/file-nr`.

use std::path::Path;

use super::{read_parse, Emitter, HostError, MetricType, ParseError};

/// `/proc/sys/fs/file-nr`: allocated, (unused, always 0 since 2.6), maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileNr {
    pub allocated: u64,
    pub maximum: u64,
}

/// Parses `/proc/sys/fs/file-nr` (exactly three numbers).
pub fn parse_file_nr(text: &str) -> Result<FileNr, ParseError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 3 {
        return Err(ParseError::new(
            1,
            format!("expected 3 fields, found {}", fields.len()),
        ));
    }
    let num = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| ParseError::new(1, format!("invalid number {s:?}")))
    };
    Ok(FileNr {
        allocated: num(fields[0])?,
        maximum: num(fields[2])?,
    })
}

/// Emits the two gauges.
pub fn emit(nr: FileNr, em: &mut Emitter) {
    em.add(
        "node_filefd_allocated",
        "File descriptor statistics: allocated.",
        MetricType::Gauge,
        &[],
        nr.allocated as f64,
    );
    em.add(
        "node_filefd_maximum",
        "File descriptor statistics: maximum.",
        MetricType::Gauge,
        &[],
        nr.maximum as f64,
    );
}

pub(super) fn collect(proc: &Path, em: &mut Emitter) -> Result<(), HostError> {
    emit(read_parse(&proc.join("sys/fs/file-nr"), parse_file_nr)?, em);
    Ok(())
}

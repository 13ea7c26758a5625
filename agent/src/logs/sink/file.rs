//! The file sink: appends one JSON object per line to a file and fsyncs
//! before acknowledging. The file is opened in append mode and reopened
//! after a failure (so it can be rotated away by an external tool).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::{SendFuture, Sink, SinkError};

/// Appends JSON lines to `path`.
pub struct FileSink {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl FileSink {
    pub fn new(path: impl Into<PathBuf>) -> FileSink {
        FileSink {
            path: path.into(),
            file: None,
        }
    }

    fn write(
        path: &PathBuf,
        file: &mut Option<std::fs::File>,
        lines: &[String],
    ) -> Result<(), SinkError> {
        if file.is_none() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            *file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            );
        }
        let Some(f) = file.as_mut() else {
            return Err(SinkError::Other("file not open".into()));
        };
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
        let res = f.write_all(&buf).and_then(|()| f.sync_data());
        if res.is_err() {
            *file = None;
        }
        Ok(res?)
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        "file"
    }

    fn send(&mut self, lines: Arc<[String]>) -> SendFuture<'_> {
        Box::pin(async move {
            let path = self.path.clone();
            let mut file = self.file.take();
            let (file, res) = tokio::task::spawn_blocking(move || {
                let res = FileSink::write(&path, &mut file, &lines);
                (file, res)
            })
            .await
            .map_err(|e| SinkError::Other(format!("file sink task: {e}")))?;
            self.file = file;
            res
        })
    }
}

//! The error every scene loader and writer returns.

use std::path::{Path, PathBuf};

/// A scene could not be read or written. The message always names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file was read but its content is not valid.
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file the format requires is not there.
    #[error("{}: missing {what}", path.display())]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What it should have held.
        what: String,
    },
}

impl SceneError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        SceneError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Invalid content in `path`.
    pub fn invalid(path: &Path, problem: impl Into<String>) -> Self {
        SceneError::Invalid {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    /// A required companion file is missing.
    pub fn missing(path: &Path, what: impl Into<String>) -> Self {
        SceneError::Missing {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// Reads a whole file, refusing files larger than `max_bytes` (so a mistaken path to a huge file
/// cannot exhaust memory).
pub(crate) fn read_file_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, SceneError> {
    let meta = std::fs::metadata(path).map_err(|e| SceneError::io(path, e))?;
    check_file_size(path, &meta, max_bytes)?;
    std::fs::read(path).map_err(|e| SceneError::io(path, e))
}

/// Refuses a folder, and a file of more than `max_bytes`.
pub(crate) fn check_file_size(
    path: &Path,
    meta: &std::fs::Metadata,
    max_bytes: u64,
) -> Result<(), SceneError> {
    if meta.is_dir() {
        return Err(SceneError::invalid(path, "is a directory, expected a file"));
    }
    if meta.len() > max_bytes {
        return Err(SceneError::invalid(
            path,
            format!(
                "file is {} bytes, more than the {} bytes this reader accepts",
                meta.len(),
                max_bytes
            ),
        ));
    }
    Ok(())
}

/// Longest line a line-oriented reader ([`for_each_line`]) accepts, bytes.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Streams the lines of a text file (JSONL and the like) into `f(line_number, line)`, one at a
/// time: memory stays bounded by the longest line, and a line over [`MAX_LINE_BYTES`] or one
/// that is not UTF-8 is an error naming the file and line. Blank lines are skipped.
pub(crate) fn for_each_line(
    path: &Path,
    mut f: impl FnMut(usize, &str) -> Result<(), SceneError>,
) -> Result<(), SceneError> {
    use std::io::{BufRead, Read};
    let meta = std::fs::metadata(path).map_err(|e| SceneError::io(path, e))?;
    if meta.is_dir() {
        return Err(SceneError::invalid(path, "is a directory, expected a file"));
    }
    let file = std::fs::File::open(path).map_err(|e| SceneError::io(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        n += 1;
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| SceneError::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(SceneError::invalid(
                path,
                format!("line {n} is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        let line = std::str::from_utf8(&buf)
            .map_err(|_| SceneError::invalid(path, format!("line {n}: not UTF-8")))?;
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            f(n, line)?;
        }
    }
}

/// Parses a JSON file into `T`, naming the file, line and column on error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    max_bytes: u64,
) -> Result<T, SceneError> {
    let bytes = read_file_limited(path, max_bytes)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SceneError::invalid(path, format!("malformed JSON: {e}")))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SceneError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| SceneError::io(&tmp, e))?;
    std::io::Write::write_all(&mut f, bytes).map_err(|e| SceneError::io(&tmp, e))?;
    f.sync_all().map_err(|e| SceneError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| SceneError::io(path, e))
}

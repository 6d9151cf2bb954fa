//! Recently opened scenes, remembered between runs in `<config>/spatia/recent.json`
//! (`$SPATIA_CONFIG_DIR`, else `$XDG_CONFIG_HOME`, else `~/.config`).

use std::path::{Path, PathBuf};

use bevy::prelude::Resource;

/// How many recent scenes are kept.
pub const MAX_RECENT: usize = 10;

/// The recent scenes, newest first.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct RecentScenes {
    /// Paths, newest first.
    pub paths: Vec<PathBuf>,
    file: Option<PathBuf>,
}

/// Spatia's config folder: `$SPATIA_CONFIG_DIR`, else `$XDG_CONFIG_HOME/spatia`, else
/// `~/.config/spatia`, else `.spatia` in the working directory.
pub fn config_dir() -> PathBuf {
    std::env::var_os("SPATIA_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("spatia")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/spatia")))
        .unwrap_or_else(|| PathBuf::from(".spatia"))
}

fn config_file() -> Option<PathBuf> {
    Some(config_dir().join("recent.json"))
}

impl RecentScenes {
    /// Reads the list from the user's config folder; an unreadable file gives an empty list.
    pub fn load() -> Self {
        let file = config_file();
        let paths = file
            .as_deref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice::<Vec<PathBuf>>(&b).ok())
            .unwrap_or_default();
        Self { paths, file }.trimmed()
    }

    /// A list stored in `file` (for tests).
    #[cfg(test)]
    pub fn at(file: PathBuf) -> Self {
        Self {
            paths: Vec::new(),
            file: Some(file),
        }
    }

    fn trimmed(mut self) -> Self {
        self.paths.truncate(MAX_RECENT);
        self
    }

    /// Moves `path` to the front (absolute where possible).
    pub fn push(&mut self, path: &Path) {
        let p = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.paths.retain(|q| q != &p);
        self.paths.insert(0, p);
        self.paths.truncate(MAX_RECENT);
    }

    /// Writes the list; failures are logged, never fatal.
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        let result = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| {
                let text = serde_json::to_vec_pretty(&self.paths).map_err(std::io::Error::other)?;
                let tmp = file.with_extension("json.tmp");
                std::fs::write(&tmp, text)?;
                std::fs::rename(&tmp, file)
            });
        if let Err(e) = result {
            bevy::log::warn!("cannot save recent scenes to {}: {e}", file.display());
        }
    }

    /// Reads a list back from `file` (for tests).
    #[cfg(test)]
    pub fn read(file: &Path) -> Vec<PathBuf> {
        std::fs::read(file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

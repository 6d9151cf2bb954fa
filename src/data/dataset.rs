//! Reading a `gen-data` folder: the manifest, per-scene shards and questions.

use std::path::{Path, PathBuf};

use super::build::Manifest;
use super::{SceneShard, Split};
use crate::questions::Question;
use crate::questions::jsonl::read_jsonl;
use crate::scene::SceneError;

/// A built dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Its folder.
    pub root: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Dataset {
    /// Opens `dir` (a `gen-data` output); refuses an unfinished build.
    pub fn open(dir: &Path) -> Result<Dataset, SceneError> {
        let path = dir.join("manifest.json");
        if !path.is_file() {
            return Err(SceneError::missing(
                &path,
                "the dataset manifest (build it with `spatia gen-data`)",
            ));
        }
        let manifest: Manifest = crate::scene::read_json(&path, 64 << 20)?;
        if !manifest.complete {
            return Err(SceneError::invalid(
                &path,
                "the dataset build did not finish; rerun `spatia gen-data` to resume it",
            ));
        }
        Ok(Dataset {
            root: dir.to_path_buf(),
            manifest,
        })
    }

    /// Scene keys of a split.
    pub fn scenes(&self, split: Split) -> &[String] {
        self.manifest.splits.get(&split).map_or(&[], Vec::as_slice)
    }

    /// One scene's shard and questions.
    pub fn load(&self, split: Split, key: &str) -> Result<(SceneShard, Vec<Question>), SceneError> {
        let dir = self.root.join(split.name());
        let shard = SceneShard::read(&dir.join(format!("{key}.safetensors")))?;
        let questions = read_jsonl(&dir.join(format!("{key}.jsonl")))?;
        Ok((shard, questions))
    }

    /// All questions of a split.
    pub fn questions(&self, split: Split) -> Result<Vec<Question>, SceneError> {
        read_jsonl(&self.root.join(split.name()).join("questions.jsonl"))
    }
}

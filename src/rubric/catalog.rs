//! The rubrics a running service grades against: every `*.toml` in one folder,
//! loaded and fully checked at start.
//!
//! Loading them all up front means a broken rubric stops the service at boot,
//! where enablement sees it, instead of failing reps' submissions one by one.
//! Submissions name a rubric by its `id`, never by a path, so nothing a rep
//! sends can point the grader at another file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::parse::{load, LoadedRubric, RubricError};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the rubric folder {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Rubric(#[from] RubricError),
    #[error("rubric id {id:?} is used by both {first} and {second}")]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
    #[error("no rubric files (*.toml) in {0}")]
    Empty(PathBuf),
}

/// Rubrics by id, in id order (so listings are stable).
#[derive(Debug, Clone, Default)]
pub struct RubricCatalog {
    rubrics: BTreeMap<String, LoadedRubric>,
}

impl RubricCatalog {
    /// Loads every `*.toml` directly inside `dir` (not sub-folders: those hold
    /// rubric test cases). Any invalid file or repeated id is an error.
    pub fn load_dir(dir: &Path) -> Result<RubricCatalog, CatalogError> {
        let io = |source| CatalogError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut catalog = RubricCatalog::default();
        for path in paths {
            catalog.insert(load(&path)?)?;
        }
        if catalog.rubrics.is_empty() {
            return Err(CatalogError::Empty(dir.to_path_buf()));
        }
        Ok(catalog)
    }

    /// Adds one rubric; an id already present is refused rather than replaced.
    pub fn insert(&mut self, rubric: LoadedRubric) -> Result<(), CatalogError> {
        if let Some(first) = self.rubrics.get(&rubric.rubric.id) {
            return Err(CatalogError::DuplicateId {
                id: rubric.rubric.id.clone(),
                first: first.source.clone(),
                second: rubric.source,
            });
        }
        self.rubrics.insert(rubric.rubric.id.clone(), rubric);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&LoadedRubric> {
        self.rubrics.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &LoadedRubric> {
        self.rubrics.values()
    }

    pub fn len(&self) -> usize {
        self.rubrics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rubrics.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rubrics")
    }

    #[test]
    fn loads_the_shipped_rubrics_by_id() {
        let catalog = RubricCatalog::load_dir(&shipped()).expect("shipped rubrics load");
        assert!(catalog.get("ledgerly-sales-pitch").is_some());
        assert!(catalog.get("ledgerly-technical-demo").is_some());
        assert!(catalog.get("../ledgerly-sales-pitch").is_none());
    }

    #[test]
    fn a_repeated_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read(shipped().join("ledgerly-sales-pitch.toml")).unwrap();
        std::fs::write(dir.path().join("a.toml"), &text).unwrap();
        std::fs::write(dir.path().join("b.toml"), &text).unwrap();
        let err = RubricCatalog::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, CatalogError::DuplicateId { .. }), "{err}");
    }

    #[test]
    fn an_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = RubricCatalog::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, CatalogError::Empty(_)), "{err}");
    }
}

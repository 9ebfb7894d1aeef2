//! Loading a rubric file for grading: checked in full, hashed as bytes.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::lint::{check, Problem};
use super::model::Rubric;

/// Rubric files are a few KiB; anything this large is not a rubric, and
/// reading it whole would let a bad path exhaust memory.
pub const MAX_RUBRIC_BYTES: u64 = 1024 * 1024;

/// A rubric ready to grade with, plus what a grade must record about it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRubric {
    pub rubric: Rubric,
    /// Where it came from, as shown in messages.
    pub source: String,
    /// sha256 of the file's exact bytes, hex: a grade names the text it used,
    /// so an edit without a version bump is still visible.
    pub sha256: String,
    /// The file's text, kept so the exact bytes a grade used stay readable
    /// (`GET /v1/rubrics/{id}/versions/{version}`) after the file moves on.
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RubricError {
    #[error("{path}: cannot read rubric: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_RUBRIC_BYTES} bytes; not a rubric file")]
    TooLarge { path: PathBuf },
    #[error("{file}: not UTF-8 text")]
    NotUtf8 { file: String },
    #[error("{}", ProblemList { file, problems })]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

struct ProblemList<'a> {
    file: &'a str,
    problems: &'a [Problem],
}

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{p}", self.file)?;
        }
        Ok(())
    }
}

/// Reads and fully checks a rubric file; any lint problem is an error, so a
/// grade is never computed from a rubric with an impossible rule.
pub fn load(path: &Path) -> Result<LoadedRubric, RubricError> {
    let bytes = read_limited(path)?;
    parse(&path.display().to_string(), &bytes)
}

/// A rubric named on the command line: a file path, or the id of an
/// installed rubric (`ledgerly-sales-pitch`, as `submit --rubric` takes it),
/// which is `rubrics/<id>.toml` under the install's shipped files. A path
/// that exists is always read as given.
pub fn load_named(named: &Path) -> Result<LoadedRubric, RubricError> {
    if named.exists() {
        return load(named);
    }
    let looks_like_id = named.extension().is_none() && named.components().count() == 1;
    if looks_like_id {
        let file = Path::new("rubrics").join(named).with_extension("toml");
        let installed = crate::install::shipped(&file);
        if installed.exists() {
            return load(&installed);
        }
    }
    load(&crate::install::shipped(named))
}

/// Same as [`load`] for bytes already in memory; `source` names them in messages.
pub fn parse(source: &str, bytes: &[u8]) -> Result<LoadedRubric, RubricError> {
    let text = std::str::from_utf8(bytes).map_err(|_| RubricError::NotUtf8 {
        file: source.to_string(),
    })?;
    let rubric = check(text).map_err(|problems| RubricError::Invalid {
        file: source.to_string(),
        problems,
    })?;
    Ok(LoadedRubric {
        rubric,
        source: source.to_string(),
        sha256: hex::encode(Sha256::digest(bytes)),
        text: text.to_string(),
    })
}

pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>, RubricError> {
    let io = |source| RubricError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_RUBRIC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_RUBRIC_BYTES {
        return Err(RubricError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// `pitchgrade rubric lint`: every problem of every file, as `file:line:col: message`.
/// Returns the lines to print; the caller exits non-zero when any exist.
pub fn lint_files(paths: &[PathBuf]) -> Vec<String> {
    let mut lines = Vec::new();
    for path in paths {
        match load(path) {
            Ok(_) => {}
            Err(RubricError::Invalid { file, problems }) => {
                lines.extend(problems.iter().map(|p| format!("{file}:{p}")));
            }
            Err(e) => lines.push(e.to_string()),
        }
    }
    lines
}

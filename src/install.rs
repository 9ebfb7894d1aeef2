//! Where the files that ship with pitchgrade are found — the Whisper and
//! MiniLM models, the rubric folder, the certification program — whichever
//! directory a command is run from.
//!
//! One rule for every command: a flag or environment variable names a path,
//! which is used as given when it exists; otherwise the same relative path is
//! looked for under the install (beside the binary, one and two folders up,
//! `../share/pitchgrade`) and finally in the repository the binary was built
//! from. Before this, `pitchgrade report` run outside the checkout failed
//! with "No such file" for files that were right there.

use std::path::{Path, PathBuf};

/// `path` if it exists (or is absolute), else the first install location
/// that has it, else `path` unchanged so the error names what was asked for.
pub fn shipped(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    roots()
        .into_iter()
        .map(|root| root.join(path))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| path.to_path_buf())
}

/// Where an install keeps its shipped files, most specific first.
fn roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        roots.push(bin.join("../share/pitchgrade"));
        roots.push(bin.clone());
        roots.push(bin.join(".."));
        roots.push(bin.join("../.."));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipped_file_is_found_from_anywhere_and_a_missing_one_named_as_asked() {
        // Tests run in the repository, so look from a path that is not there.
        let rubrics = shipped(Path::new("rubrics/ledgerly-sales-pitch.toml"));
        assert!(rubrics.is_file(), "{}", rubrics.display());
        let missing = Path::new("models/no-such-model.bin");
        assert_eq!(shipped(missing), missing);
        let absolute = Path::new("/nowhere/at/all");
        assert_eq!(shipped(absolute), absolute);
    }
}

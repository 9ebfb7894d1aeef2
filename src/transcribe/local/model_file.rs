//! Finding the Whisper model file and proving it is the file we think it is.
//!
//! A truncated download or a different model with the same name would load
//! (or crash whisper.cpp) and silently change every grade, so the file's
//! sha256 must match a known sum before it is loaded.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The model used when none is configured.
pub const DEFAULT_MODEL: &str = "models/ggml-tiny.en.bin";

/// Sums of the model files this project ships or has verified
/// (`../shared/models/SHA256SUMS`).
const KNOWN_SUMS: &[(&str, &str)] = &[
    (
        "ggml-tiny.en.bin",
        "ed0eed2823c9c0c5b5e6f1c240a4f76591013648677e146655bb80a0834a3366",
    ),
    (
        "ggml-tiny.en-q8_0.bin",
        "2be3f7c25f7e78b27fb7860978331b2d8f0d61131925cc1b70e6f80b39d8e78c",
    ),
];

const HOW_TO_GET: &str = "run scripts/fetch-models.sh, or download a ggml model once \
     (e.g. https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin) \
     into ./models/, or set PITCHGRADE_WHISPER_MODEL (model_path) to where it is";

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("Whisper model {path} not found: {HOW_TO_GET}")]
    Missing { path: PathBuf },
    #[error("cannot read Whisper model {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "Whisper model {path} has sha256 {actual}, expected {expected}: the file is damaged \
         or a different model; download it again ({HOW_TO_GET})"
    )]
    Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "no known sha256 for Whisper model {path}: set model_sha256, or list it in a \
         SHA256SUMS file next to it (`sha256sum {name} > SHA256SUMS`)"
    )]
    UnknownSum { path: PathBuf, name: String },
}

/// The configured path, else [`DEFAULT_MODEL`], found by the install's rule
/// (`crate::install::shipped`) when it is not where the command runs.
pub fn resolve(configured: Option<&Path>) -> PathBuf {
    crate::install::shipped(configured.unwrap_or(Path::new(DEFAULT_MODEL)))
}

/// Checks `path` against, in order: the configured sum, a `SHA256SUMS` file in
/// its folder, the sums built in here.
pub fn verify(path: &Path, configured_sum: Option<&str>) -> Result<(), ModelFileError> {
    if !path.is_file() {
        return Err(ModelFileError::Missing {
            path: path.to_path_buf(),
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let expected = configured_sum
        .map(|s| s.trim().to_ascii_lowercase())
        .or_else(|| sum_from_file(path, &name))
        .or_else(|| {
            KNOWN_SUMS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s.to_string())
        })
        .ok_or_else(|| ModelFileError::UnknownSum {
            path: path.to_path_buf(),
            name: name.clone(),
        })?;
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(ModelFileError::Mismatch {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(())
}

fn sum_from_file(model: &Path, name: &str) -> Option<String> {
    let sums = std::fs::read_to_string(model.with_file_name("SHA256SUMS")).ok()?;
    sums.lines().find_map(|line| {
        let (sum, file) = line.split_once(char::is_whitespace)?;
        let file = file.trim().trim_start_matches('*');
        (file == name || Path::new(file).file_name().is_some_and(|f| f == name))
            .then(|| sum.to_ascii_lowercase())
    })
}

fn sha256_file(path: &Path) -> Result<String, ModelFileError> {
    let unreadable = |source| ModelFileError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SUM: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn missing_file_says_how_to_download() {
        let err = verify(Path::new("/nonexistent/ggml-tiny.en.bin"), None).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ModelFileError::Missing { .. }));
        assert!(
            msg.contains("fetch-models.sh") && msg.contains("huggingface.co"),
            "{msg}"
        );
    }

    #[test]
    fn sums_come_from_config_then_sha256sums_file() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("ggml-custom.bin");
        std::fs::write(&model, "hello").unwrap();
        assert!(matches!(
            verify(&model, None),
            Err(ModelFileError::UnknownSum { .. })
        ));
        verify(&model, Some(HELLO_SUM)).unwrap();
        std::fs::write(
            dir.path().join("SHA256SUMS"),
            format!("{HELLO_SUM}  ggml-custom.bin\n"),
        )
        .unwrap();
        verify(&model, None).unwrap();
        std::fs::write(&model, "hellO").unwrap();
        let err = verify(&model, None).unwrap_err();
        assert!(matches!(err, ModelFileError::Mismatch { .. }));
        assert!(err.to_string().contains(HELLO_SUM));
    }

    #[test]
    fn a_damaged_known_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("ggml-tiny.en.bin");
        std::fs::write(&model, "truncated").unwrap();
        assert!(matches!(
            verify(&model, None),
            Err(ModelFileError::Mismatch { .. })
        ));
    }
}

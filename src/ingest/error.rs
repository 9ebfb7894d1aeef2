//! Why a recording could not be analysed, in words a rep can act on.

use std::path::PathBuf;

/// Every variant's `Display` is one line meant for the rep who uploaded the
/// file; the CLI prints it as is and the service stores it on the submission.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("this file is empty (0 bytes): upload the recording again")]
    Empty,
    #[error("this file is {} MB and the limit is {} MB: upload a shorter recording or export it as M4A or MP3", mb(*.bytes), mb(*.max_bytes))]
    TooLarge { bytes: u64, max_bytes: u64 },
    #[error("this is {kind}, not an audio recording: upload the recording itself")]
    NotAudio { kind: &'static str },
    #[error("this file is not a recording we can read: export it as M4A or MP3")]
    UnknownFormat,
    #[error("this {format} file is incomplete (the recording was never finished, or the upload was cut off): record or upload it again")]
    Incomplete { format: &'static str },
    #[error("this file has no audio track")]
    NoAudioTrack,
    #[error("unsupported codec {codec}: export as M4A or MP3")]
    UnsupportedCodec { codec: String },
    /// `what` is ours ("sample rate 3 Hz"); the rep reads it.
    #[error("this file's header is invalid ({what}): export it again as M4A or MP3")]
    BadHeader { what: String },
    /// The demuxer or decoder refused the file. Its own words (`detail`) are
    /// for the operator: "core (probe): no suitable format reader found"
    /// tells a rep nothing.
    #[error("this {format} file could not be decoded: export it again as M4A or MP3")]
    Undecodable { format: String, detail: String },
    #[error("the recording stops at {} — it looks cut off; upload it again", clock(*.at_seconds))]
    Truncated { at_seconds: f64 },
    #[error("the audio is damaged at {} and cannot be decoded: export it again as M4A or MP3", clock(*.at_seconds))]
    Corrupt { at_seconds: f64 },
    #[error("the audio contains invalid samples (NaN or infinity) at {}: export it again as M4A or MP3", clock(*.at_seconds))]
    InvalidSamples { at_seconds: f64 },
    #[error("the recording is longer than the {} limit: upload a shorter one", minutes(*.max_seconds))]
    TooLong { max_seconds: f64 },
    #[error(
        "the recording is only {seconds:.1} s long: record the whole pitch and upload it again"
    )]
    TooShort { seconds: f64 },
    #[error("the recording is silent: check the microphone and record again")]
    Silent,
    /// A bug or resource problem on our side, not something the rep can fix.
    #[error("internal error while analysing the recording: {0}")]
    Internal(String),
}

impl IngestError {
    /// Everything known about the failure, for logs and the job's
    /// `last_error`: the rep's sentence plus what the libraries said.
    pub fn detail(&self) -> String {
        match self {
            IngestError::Undecodable { detail, .. } => format!("{self} [{detail}]"),
            IngestError::Io { source, .. } => format!("{self} [{source:?}]"),
            other => other.to_string(),
        }
    }

    /// True when the file itself is the problem: retrying the same bytes will
    /// fail the same way, so the submission should be rejected, not retried.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, IngestError::Io { .. } | IngestError::Internal(_))
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
}

/// `m:ss`, the way a rep reads a position in a player.
pub(crate) fn clock(seconds: f64) -> String {
    let total = seconds.max(0.0).floor() as u64;
    format!("{}:{:02}", total / 60, total % 60)
}

fn minutes(seconds: f64) -> String {
    let m = seconds / 60.0;
    if m >= 1.0 && (m - m.round()).abs() < 1e-9 {
        format!("{}-minute", m.round())
    } else {
        format!("{}-second", seconds.round())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_position() {
        let e = IngestError::Truncated { at_seconds: 42.7 };
        assert_eq!(
            e.to_string(),
            "the recording stops at 0:42 — it looks cut off; upload it again"
        );
        let e = IngestError::TooLong {
            max_seconds: 1200.0,
        };
        assert_eq!(
            e.to_string(),
            "the recording is longer than the 20-minute limit: upload a shorter one"
        );
        assert!(!IngestError::Silent.to_string().contains('\n'));
    }

    #[test]
    fn only_our_failures_are_transient() {
        assert!(IngestError::Silent.is_permanent());
        assert!(!IngestError::Internal("x".into()).is_permanent());
        let io = std::io::Error::other("disk");
        assert!(!IngestError::Io {
            path: "f".into(),
            source: io
        }
        .is_permanent());
    }
}

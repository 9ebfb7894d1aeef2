//! Opening an upload: size limit, then what the bytes say it is.
//!
//! The container is recognised from magic bytes, never from the file name: a
//! PDF renamed `.mp3` must be called a PDF, and a rep's `.mp4` from Safari may
//! really be audio-only M4A. symphonia probes the audio containers itself;
//! this sniff exists to name the cases it cannot (documents, images, AMR) and
//! to tell an MP4 without its index from random bytes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{IngestError, Limits};

/// What the first bytes of the file look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Wav,
    Aiff,
    Mp3,
    Adts,
    Mp4,
    Flac,
    Ogg,
    WebM,
    Matroska,
    Amr,
    AmrWb,
    /// Something that is certainly not audio, with a name for the rep.
    NotAudio(&'static str),
    Unknown,
}

impl Sniffed {
    /// The `format` field of the report.
    pub fn format_name(self) -> &'static str {
        match self {
            Sniffed::Wav => "wav",
            Sniffed::Aiff => "aiff",
            Sniffed::Mp3 => "mp3",
            Sniffed::Adts => "aac",
            Sniffed::Mp4 => "mp4",
            Sniffed::Flac => "flac",
            Sniffed::Ogg => "ogg",
            Sniffed::WebM => "webm",
            Sniffed::Matroska => "matroska",
            Sniffed::Amr | Sniffed::AmrWb => "amr",
            Sniffed::NotAudio(_) | Sniffed::Unknown => "unknown",
        }
    }
}

/// Opens `path` after checking it against `limits.max_bytes`, and sniffs it.
pub fn open(path: &Path, limits: &Limits) -> Result<(File, Sniffed), IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    if bytes == 0 {
        return Err(IngestError::Empty);
    }
    if bytes > limits.max_bytes {
        return Err(IngestError::TooLarge {
            bytes,
            max_bytes: limits.max_bytes,
        });
    }
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).map_err(io)? {
            0 => break,
            k => n += k,
        }
    }
    let sniffed = sniff(&head[..n]);
    if let Sniffed::NotAudio(kind) = sniffed {
        return Err(IngestError::NotAudio { kind });
    }
    // symphonia would scan unknown bytes for anything resembling an MP3
    // frame sync and "decode" noise from a random file; refuse instead.
    if matches!(sniffed, Sniffed::Unknown) {
        return Err(IngestError::UnknownFormat);
    }
    if matches!(sniffed, Sniffed::Amr) {
        return Err(IngestError::UnsupportedCodec {
            codec: "AMR-NB".into(),
        });
    }
    if matches!(sniffed, Sniffed::AmrWb) {
        return Err(IngestError::UnsupportedCodec {
            codec: "AMR-WB".into(),
        });
    }
    let file = File::open(path).map_err(io)?;
    Ok((file, sniffed))
}

pub fn sniff(head: &[u8]) -> Sniffed {
    let starts = |magic: &[u8]| head.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if starts(b"RIFF") && at(8, b"WAVE") || starts(b"RF64") || starts(b"BW64") {
        Sniffed::Wav
    } else if starts(b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        Sniffed::Aiff
    } else if at(4, b"ftyp") || at(4, b"moov") || at(4, b"mdat") || at(4, b"free") || at(4, b"wide")
    {
        Sniffed::Mp4
    } else if starts(b"fLaC") {
        Sniffed::Flac
    } else if starts(b"OggS") {
        Sniffed::Ogg
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        if head.windows(4).any(|w| w == b"webm") {
            Sniffed::WebM
        } else {
            Sniffed::Matroska
        }
    } else if starts(b"#!AMR-WB") {
        Sniffed::AmrWb
    } else if starts(b"#!AMR") {
        Sniffed::Amr
    } else if starts(b"ID3") {
        Sniffed::Mp3
    } else if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
        Sniffed::Adts
    } else if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 {
        Sniffed::Mp3
    } else if let Some(kind) = not_audio(head) {
        Sniffed::NotAudio(kind)
    } else {
        Sniffed::Unknown
    }
}

fn not_audio(head: &[u8]) -> Option<&'static str> {
    const KINDS: &[(&[u8], &str)] = &[
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"\xD0\xCF\x11\xE0", "an Office document"),
        (b"{\\rtf", "an RTF document"),
        (b"<!DOCTYPE", "a web page"),
        (b"<html", "a web page"),
        (b"\x7FELF", "a program"),
        (b"MZ", "a program"),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// Index of the first of `needles` found in the file, read in bounded chunks.
/// Only used on an error path, to name a codec symphonia does not parse.
pub fn find_sample_entry(path: &Path, needles: &[&[u8; 4]]) -> Option<usize> {
    let mut file = File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let mut carry = 0;
    loop {
        let n = file.read(&mut buf[carry..]).ok()?;
        if n == 0 {
            return None;
        }
        let filled = carry + n;
        for window in buf[..filled].windows(4) {
            if let Some(i) = needles.iter().position(|needle| window == &needle[..]) {
                return Some(i);
            }
        }
        let keep = filled.min(3);
        buf.copy_within(filled - keep..filled, 0);
        carry = keep;
    }
}

/// The upload as symphonia reads it, remembering whether a reader asked for
/// bytes past the end. When a demuxer then fails, the file was cut off (an
/// interrupted upload or recording), which deserves a different message
/// from damage in the middle of a complete file.
pub struct WatchedFile {
    file: File,
    len: u64,
    pos: u64,
    past_end: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl WatchedFile {
    pub fn new(
        file: File,
    ) -> std::io::Result<(Self, std::sync::Arc<std::sync::atomic::AtomicBool>)> {
        let len = file.metadata()?.len();
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        Ok((
            WatchedFile {
                file,
                len,
                pos: 0,
                past_end: flag.clone(),
            },
            flag,
        ))
    }
}

impl Read for WatchedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.pos += n as u64;
        if n < buf.len() && self.pos >= self.len {
            self.past_end
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl std::io::Seek for WatchedFile {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(to)?;
        if self.pos > self.len {
            self.past_end
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(self.pos)
    }
}

impl symphonia::core::io::MediaSource for WatchedFile {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

/// Whether an MP3 starts with a Xing/Info/VBRI header, the only case in
/// which its frame count (and so its length) is known rather than guessed.
pub fn mp3_has_frame_count(path: &Path) -> bool {
    let mut head = vec![0u8; 1 << 16];
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let Ok(n) = file.read(&mut head) else {
        return false;
    };
    let head = &head[..n];
    let mut start = 0;
    if head.starts_with(b"ID3") && head.len() >= 10 {
        // ID3v2 size: four 7-bit bytes.
        let size = head[6..10]
            .iter()
            .fold(0usize, |acc, b| (acc << 7) | (*b as usize & 0x7F));
        start = 10 + size;
    }
    let Some(frame) = head.get(start..(start + 64).min(head.len())) else {
        return false;
    };
    frame
        .windows(4)
        .any(|w| w == b"Xing" || w == b"Info" || w == b"VBRI")
}

/// Whether a top-level MP4 box claims more bytes than the file has: the mark
/// of an upload cut short. symphonia refuses such a file before it reads a
/// sample, so the reads never run past the end for [`WatchedFile`] to see.
pub fn mp4_cut_short(path: &Path) -> bool {
    use std::io::{Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let mut at = 0u64;
    // Real files have a handful of top-level boxes; the cap bounds the walk.
    for _ in 0..10_000 {
        if at + 8 > len {
            return false;
        }
        let mut header = [0u8; 16];
        if file.seek(SeekFrom::Start(at)).is_err() || file.read_exact(&mut header[..8]).is_err() {
            return false;
        }
        let size = match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
            0 => return false, // extends to the end of the file by definition
            1 => {
                if file.read_exact(&mut header[8..16]).is_err() {
                    return true;
                }
                u64::from_be_bytes(header[8..16].try_into().unwrap_or([0; 8]))
            }
            n => n as u64,
        };
        if size < 8 {
            return false;
        }
        match at.checked_add(size) {
            Some(end) if end <= len => at = end,
            _ => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Sniffed::NotAudio("a PDF document"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Sniffed::Wav);
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Sniffed::Mp4);
        assert_eq!(sniff(b"#!AMR\n"), Sniffed::Amr);
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x00]), Sniffed::Mp3);
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80]), Sniffed::Adts);
        assert_eq!(sniff(b"hello"), Sniffed::Unknown);
    }
}

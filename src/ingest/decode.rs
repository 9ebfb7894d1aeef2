//! Demux and decode the audio track into f32 planes, packet by packet.
//!
//! symphonia does the containers and most codecs. It has no Opus decoder, so
//! Opus packets (OGG/Opus and WebM/Opus: what Chrome and Firefox record) go to
//! `opus-pure`. Why `opus-pure` over `symphonia-adapter-libopus`: both decode
//! at several hundred times real time, but opus-pure is Rust with no C build
//! (no cmake, no bundled C library to keep patched), so a malformed packet
//! from an upload meets bounds-checked code rather than C; it is checked
//! byte-exact against libopus 1.6.1; and it decodes straight to 16 kHz mono,
//! which removes the resampling step for browser recordings.

use std::fs::File;

use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_AAC, CODEC_ID_ALAC, CODEC_ID_FLAC, CODEC_ID_MP3, CODEC_ID_OPUS, CODEC_ID_VORBIS,
};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use super::limits::{MAX_CHANNELS, SAMPLE_RATE_RANGE};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::source::{mp3_has_frame_count, mp4_cut_short, Sniffed, WatchedFile};
use super::IngestError;

/// Facts about the track being decoded, for the report.
#[derive(Debug, Clone)]
pub struct TrackInfo {
    pub format: &'static str,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: usize,
}

/// Decoded audio handed to the caller: equal-length planes at `rate` Hz.
pub struct Block<'a> {
    pub planes: &'a [Vec<f32>],
    pub rate: u32,
}

/// Packets that fail to decode are skipped (a glitch in a long recording
/// should not lose the pitch), but a run this long means the stream is broken.
const MAX_CONSECUTIVE_BAD_PACKETS: u32 = 20;

pub struct Decoder {
    reader: Box<dyn FormatReader>,
    track_id: u32,
    codec: Codec,
    info: TrackInfo,
    /// Frames the container promises, where its header can be trusted.
    declared_frames: Option<u64>,
    planes: Vec<Vec<f32>>,
    /// Set when a read ran past the end of the file (see [`WatchedFile`]).
    past_end: Arc<AtomicBool>,
    sniffed: Sniffed,
    path: PathBuf,
}

enum Codec {
    Symphonia(Box<dyn AudioDecoder>),
    Opus {
        decoder: Box<opus_pure::OpusDecoder>,
        out: Vec<f32>,
    },
}

/// Opus can decode at any of its rates; ours saves a resampling step.
const OPUS_RATE: u32 = crate::ingest::SAMPLE_RATE;
/// Opus packets hold at most 120 ms.
const OPUS_MAX_FRAMES: usize = OPUS_RATE as usize * 120 / 1000;

impl Decoder {
    /// The duration the container's header promises, where it can be
    /// trusted (the same frames `declared_frames` checks the decode against).
    pub fn declared_seconds(&self) -> Option<f64> {
        let frames = self.declared_frames?;
        (self.info.sample_rate > 0).then(|| frames as f64 / f64::from(self.info.sample_rate))
    }

    pub fn open(file: File, path: &Path, sniffed: Sniffed) -> Result<Self, IngestError> {
        let (file, past_end) = WatchedFile::new(file).map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
        let reader = symphonia::default::get_probe()
            .probe(
                &Hint::new(),
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| probe_error(e, sniffed))?;
        // Probing reads the end of the file for trailing tags; only reads
        // past the end from here on mean the audio itself is cut short.
        past_end.store(false, Ordering::Relaxed);
        let track = pick_track(reader.tracks())?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or(IngestError::NoAudioTrack)?
            .clone();
        let track_id = track.id;
        let declared_frames = match sniffed {
            Sniffed::Wav | Sniffed::Flac | Sniffed::Aiff => track.num_frames.filter(|&n| n > 0),
            Sniffed::Mp3 if mp3_has_frame_count(path) => track.num_frames.filter(|&n| n > 0),
            _ => None,
        };
        check_params(&params)?;
        let header_channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
        let (codec, name) = if params.codec == CODEC_ID_OPUS {
            if header_channels > 2 {
                return Err(IngestError::UnsupportedCodec {
                    codec: format!("Opus with {header_channels} channels"),
                });
            }
            let decoder = opus_pure::OpusDecoder::new(OPUS_RATE as i32, 1)
                .map_err(|e| IngestError::Internal(format!("opus decoder: {e}")))?;
            let out = vec![0.0; OPUS_MAX_FRAMES];
            (
                Codec::Opus {
                    decoder: Box::new(decoder),
                    out,
                },
                "opus".to_string(),
            )
        } else {
            refuse_he_aac(&params)?;
            // Gapless trimming is off: with it, symphonia cuts a VBR MP3 that
            // has no Xing header short. A few ms of encoder delay do not matter here.
            let opts = AudioDecoderOptions::default().gapless(false);
            let decoder = symphonia::default::get_codecs()
                .make_audio_decoder(&params, &opts)
                .map_err(|e| match e {
                    SymphoniaError::Unsupported(_) => IngestError::UnsupportedCodec {
                        codec: codec_name(&params),
                    },
                    other => undecodable(sniffed, other),
                })?;
            (Codec::Symphonia(decoder), codec_name(&params))
        };
        let info = TrackInfo {
            format: sniffed_or_reader(sniffed, reader.as_ref()),
            codec: name,
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: header_channels,
        };
        Ok(Decoder {
            reader,
            track_id,
            codec,
            info,
            declared_frames,
            planes: Vec::new(),
            past_end,
            sniffed,
            path: path.to_path_buf(),
        })
    }

    pub fn info(&self) -> &TrackInfo {
        &self.info
    }

    /// Decodes the whole track, handing each block to `sink`. `at_seconds`
    /// tells the decoder where the stream is, for error messages.
    pub fn run(
        &mut self,
        sink: &mut dyn FnMut(Block<'_>) -> Result<(), IngestError>,
        at_seconds: &dyn Fn() -> f64,
    ) -> Result<(), IngestError> {
        let mut bad_run = 0u32;
        let mut frames_decoded = 0u64;
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) | Err(SymphoniaError::ResetRequired) => break,
                Err(SymphoniaError::IoError(e)) if from_the_system(&e) => {
                    return Err(IngestError::Internal(format!("reading the file: {e}")));
                }
                // A browser's MediaRecorder writes WebM live: the segment and its
                // clusters have no size, so the demuxer can only find the end by
                // running into it. After whole packets that is the end, not a cut.
                Err(SymphoniaError::IoError(_))
                    if frames_decoded > 0
                        && matches!(self.sniffed, Sniffed::WebM | Sniffed::Matroska) =>
                {
                    break
                }
                Err(_) => return Err(self.broken(at_seconds())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let rate = match self.decode_packet(&packet) {
                Ok(rate) => {
                    bad_run = 0;
                    rate
                }
                Err(()) => {
                    bad_run += 1;
                    if bad_run > MAX_CONSECUTIVE_BAD_PACKETS {
                        return Err(self.broken(at_seconds()));
                    }
                    continue;
                }
            };
            let frames = self.planes.first().map_or(0, Vec::len);
            if frames == 0 {
                continue;
            }
            if self.planes.len() > MAX_CHANNELS {
                return Err(IngestError::BadHeader {
                    what: format!("{} channels", self.planes.len()),
                });
            }
            if !SAMPLE_RATE_RANGE.contains(&rate) {
                return Err(IngestError::BadHeader {
                    what: format!("sample rate {rate} Hz"),
                });
            }
            if self.info.sample_rate == 0 {
                self.info.sample_rate = rate;
            }
            if self.info.channels == 0 {
                self.info.channels = self.planes.len();
            }
            frames_decoded += frames as u64;
            sink(Block {
                planes: &self.planes,
                rate,
            })?;
        }
        if let Some(declared) = self.declared_frames {
            // The container said how long it is; stopping well short of that is truncation.
            if frames_decoded + frames_decoded / 50 < declared {
                return Err(IngestError::Truncated {
                    at_seconds: at_seconds(),
                });
            }
        }
        Ok(())
    }

    /// The stream cannot go on: cut off if a read ran past the end, else damaged.
    fn broken(&self, at_seconds: f64) -> IngestError {
        if self.past_end.load(Ordering::Relaxed) {
            IngestError::Truncated { at_seconds }
        } else if self.sniffed == Sniffed::Mp4 && mp4_cut_short(&self.path) {
            IngestError::Incomplete { format: "MP4" }
        } else {
            IngestError::Corrupt { at_seconds }
        }
    }

    /// Decodes one packet into `self.planes`, returning its sample rate.
    fn decode_packet(&mut self, packet: &symphonia::core::packet::Packet) -> Result<u32, ()> {
        match &mut self.codec {
            Codec::Symphonia(decoder) => {
                let buf = decoder.decode(packet).map_err(|_| ())?;
                let rate = buf.spec().rate();
                buf.copy_to_vecs_planar::<f32>(&mut self.planes);
                Ok(rate)
            }
            Codec::Opus { decoder, out } => {
                if packet.data.is_empty() {
                    return Err(());
                }
                let n = decoder
                    .decode(&packet.data, OPUS_MAX_FRAMES, out)
                    .map_err(|_| ())?;
                // Packet trims (pre-skip, end padding) are in 48 kHz units.
                let scale = 48_000 / OPUS_RATE as u64;
                let start = ((packet.trim_start.get() / scale) as usize).min(n);
                let end = n
                    .saturating_sub((packet.trim_end.get() / scale) as usize)
                    .max(start);
                self.planes.resize(1, Vec::new());
                self.planes[0].clear();
                self.planes[0].extend_from_slice(&out[start..end]);
                Ok(OPUS_RATE)
            }
        }
    }
}

fn pick_track(tracks: &[Track]) -> Result<&Track, IngestError> {
    let is_audio = |t: &&Track| t.codec_params.as_ref().is_some_and(|p| p.audio().is_some());
    // Prefer an audio track with a codec we can decode, so an MP4 with an
    // unsupported commentary track still yields its main audio.
    let decodable = |t: &&Track| {
        t.codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .is_some_and(|p| {
                p.codec == CODEC_ID_OPUS
                    || symphonia::default::get_codecs()
                        .get_audio_decoder(p.codec)
                        .is_some()
            })
    };
    tracks
        .iter()
        .find(decodable)
        .or_else(|| tracks.iter().find(is_audio))
        .ok_or(IngestError::NoAudioTrack)
}

fn check_params(params: &AudioCodecParameters) -> Result<(), IngestError> {
    if let Some(rate) = params.sample_rate {
        if !SAMPLE_RATE_RANGE.contains(&rate) {
            return Err(IngestError::BadHeader {
                what: format!("sample rate {rate} Hz"),
            });
        }
    }
    if let Some(ch) = &params.channels {
        if ch.count() == 0 || ch.count() > MAX_CHANNELS {
            return Err(IngestError::BadHeader {
                what: format!("{} channels", ch.count()),
            });
        }
    }
    Ok(())
}

/// symphonia decodes only AAC-LC. HE-AAC (SBR/PS) would decode to the
/// low band at half the rate and sound muffled, so refuse it outright.
fn refuse_he_aac(params: &AudioCodecParameters) -> Result<(), IngestError> {
    if params.codec != CODEC_ID_AAC {
        return Ok(());
    }
    let object_type = params
        .extra_data
        .as_ref()
        .and_then(|d| d.first())
        .map(|b| b >> 3);
    match object_type {
        Some(5) => Err(IngestError::UnsupportedCodec {
            codec: "HE-AAC".into(),
        }),
        Some(29) => Err(IngestError::UnsupportedCodec {
            codec: "HE-AAC v2".into(),
        }),
        _ => Ok(()),
    }
}

fn codec_name(params: &AudioCodecParameters) -> String {
    let id = params.codec;
    let known = [
        (CODEC_ID_MP3, "mp3"),
        (CODEC_ID_AAC, "aac"),
        (CODEC_ID_FLAC, "flac"),
        (CODEC_ID_VORBIS, "vorbis"),
        (CODEC_ID_OPUS, "opus"),
        (CODEC_ID_ALAC, "alac"),
    ];
    if let Some((_, name)) = known.iter().find(|(k, _)| *k == id) {
        return name.to_string();
    }
    match symphonia::default::get_codecs().get_audio_decoder(id) {
        Some(reg) if reg.codec.info.short_name.starts_with("pcm") => "pcm".to_string(),
        Some(reg) => reg.codec.info.short_name.to_string(),
        None => format!("unknown ({id})"),
    }
}

fn sniffed_or_reader(sniffed: Sniffed, reader: &dyn FormatReader) -> &'static str {
    match sniffed {
        Sniffed::Unknown => reader.format_info().short_name,
        known => known.format_name(),
    }
}

/// Whether an I/O error came from the operating system (a disk, a full
/// temporary folder: ours to retry) rather than from a demuxer that ran into
/// impossible offsets in the file (the file's fault, and permanent). The
/// demuxers make theirs with `io::Error::new`, which carries no OS error
/// code; reading past the end is a cut file either way. EINVAL is the
/// kernel refusing a seek a demuxer computed from the file's own offsets
/// (fuzzing found 25 such WebM files): the file's fault too.
fn from_the_system(e: &std::io::Error) -> bool {
    e.raw_os_error().is_some()
        && !matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput
        )
}

fn probe_error(e: SymphoniaError, sniffed: Sniffed) -> IngestError {
    match (sniffed, e) {
        (_, SymphoniaError::IoError(io)) if from_the_system(&io) => {
            IngestError::Internal(format!("reading the file: {io}"))
        }
        // An MP4 whose index (moov) is missing or cut, or a WebM cut inside
        // its header: nothing before the first sample can be trusted.
        (Sniffed::Mp4, _) => IngestError::Incomplete { format: "MP4" },
        (Sniffed::WebM, _) => IngestError::Incomplete { format: "WebM" },
        (Sniffed::Matroska, _) => IngestError::Incomplete { format: "Matroska" },
        (Sniffed::Unknown, _) => IngestError::UnknownFormat,
        (_, SymphoniaError::IoError(_)) => IngestError::Truncated { at_seconds: 0.0 },
        (sniffed, other) => undecodable(sniffed, other),
    }
}

/// The decoder's refusal, worded for the rep; its own words kept as detail.
fn undecodable(sniffed: Sniffed, e: SymphoniaError) -> IngestError {
    let format = match sniffed.format_name() {
        "unknown" => "audio".to_string(),
        known => known.to_uppercase(),
    };
    IngestError::Undecodable {
        format,
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A demuxer's "offset out of range" is the file's fault (permanent: the
    /// rep re-exports), a disk error is ours (retried).
    #[test]
    fn a_demuxers_io_error_is_the_files_fault_and_a_disks_is_ours() {
        use std::io::{Error, ErrorKind};
        let demuxer = probe_error(
            SymphoniaError::IoError(Error::other("seek out of bounds")),
            Sniffed::Mp4,
        );
        assert!(demuxer.is_permanent(), "{demuxer:?}");
        let disk = probe_error(
            SymphoniaError::IoError(Error::from_raw_os_error(5)),
            Sniffed::Mp4,
        );
        assert!(matches!(disk, IngestError::Internal(_)), "{disk:?}");
        assert!(!disk.is_permanent());
        assert!(!from_the_system(&Error::new(
            ErrorKind::UnexpectedEof,
            "cut"
        )));
        // A seek to an offset the kernel refuses (EINVAL), computed from the file.
        let seek = probe_error(
            SymphoniaError::IoError(Error::from_raw_os_error(22)),
            Sniffed::WebM,
        );
        assert!(seek.is_permanent(), "{seek:?}");
    }

    /// The rep reads the sentence; the decoder's words are only in the detail.
    #[test]
    fn decoder_words_stay_out_of_the_reps_sentence() {
        let e = probe_error(
            SymphoniaError::Unsupported("core (probe): no suitable format reader found"),
            Sniffed::Wav,
        );
        let said = e.to_string();
        assert_eq!(
            said,
            "this WAV file could not be decoded: export it again as M4A or MP3"
        );
        assert!(!said.contains("probe"), "{said}");
        assert!(
            e.detail().contains("no suitable format reader"),
            "{}",
            e.detail()
        );
        assert!(e.is_permanent());
    }
}

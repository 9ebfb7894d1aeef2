//! Stage 1 and 2: decode any recording a rep can upload into 16 kHz mono PCM,
//! streaming, and measure delivery features from the audio itself.
//!
//! The public contract used by later stages is [`Pcm`], [`Limits`],
//! [`AudioReport`], [`Analysis`] and [`analyze_file`]. The flow per file:
//! `source` (size limit, sniff) → `decode` (packets → f32 planes) → mix to
//! mono → `resample` (16 kHz) → `features`, one block at a time.

pub mod decode;
pub mod error;
pub mod features;
pub mod limits;
pub mod report;
pub mod resample;
pub mod source;

use std::path::Path;

pub use error::IngestError;
pub use limits::Limits;
pub use report::{AudioReport, Pause};

use decode::{Block, Decoder};
use features::clipping::Clipping;
use features::Features;
use resample::Resampler;

/// The one sample rate every later stage works at (Whisper's).
pub const SAMPLE_RATE: u32 = 16_000;

/// Mono audio at [`SAMPLE_RATE`], samples in -1..1.
#[derive(Debug, Clone, Default)]
pub struct Pcm {
    pub samples: Vec<f32>,
}

impl Pcm {
    pub fn duration_seconds(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }
}

/// The result of analysing one recording.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub report: AudioReport,
    /// The 16 kHz mono samples, when asked for (transcription needs them).
    pub pcm: Option<Pcm>,
}

/// A mono mix this quiet (-60 dBFS peak) has nothing in it to grade.
const SILENCE_PEAK: f32 = 0.001;

/// Decodes and measures the recording at `path`.
///
/// `keep_pcm = false` streams in memory that does not grow with the length of
/// the recording (the `analyze` CLI, benchmarks); `keep_pcm = true` also
/// returns the 16 kHz mono samples for transcription (64 KB per second).
pub fn analyze_file(path: &Path, limits: &Limits, keep_pcm: bool) -> Result<Analysis, IngestError> {
    let (file, sniffed) = source::open(path, limits)?;
    // The demuxers and decoders are safe Rust, but the input is hostile and a
    // header can still trip an arithmetic-overflow check deep inside one: a
    // panic must end as an error on this file, not take down a worker.
    let opened = catch_panic(|| Decoder::open(file, path, sniffed)).unwrap_or_else(|| {
        Err(IngestError::BadHeader {
            what: "the decoder could not make sense of it".into(),
        })
    });
    let mut decoder = opened.map_err(|e| refine_missing_track(e, path, sniffed))?;
    catch_panic(|| analyze(&mut decoder, limits, keep_pcm))
        .unwrap_or(Err(IngestError::Corrupt { at_seconds: 0.0 }))
}

fn catch_panic<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

fn analyze(
    decoder: &mut Decoder,
    limits: &Limits,
    keep_pcm: bool,
) -> Result<Analysis, IngestError> {
    let mut features = Features::new()?;
    let mut clipping = Clipping::default();
    let mut pcm = keep_pcm.then(Vec::new);
    let mut resampler: Option<Resampler> = None;
    let mut mono = Vec::new();
    // Seconds decoded so far, counted in source frames at the source rate.
    let seconds = std::cell::Cell::new(0.0f64);

    let mut to_features = |samples: &[f32]| -> Result<(), IngestError> {
        features.push(samples)?;
        if let Some(pcm) = pcm.as_mut() {
            pcm.extend_from_slice(samples);
        }
        Ok(())
    };
    let mut on_block = |block: Block<'_>| -> Result<(), IngestError> {
        let frames = block.planes[0].len();
        for plane in block.planes {
            if let Some(i) = plane.iter().position(|s| !s.is_finite()) {
                let at_seconds = seconds.get() + i as f64 / block.rate as f64;
                return Err(IngestError::InvalidSamples { at_seconds });
            }
            clipping.push(plane);
        }
        seconds.set(seconds.get() + frames as f64 / block.rate as f64);
        if seconds.get() > limits.max_seconds {
            return Err(IngestError::TooLong {
                max_seconds: limits.max_seconds,
            });
        }
        mix_to_mono(block.planes, &mut mono);
        let r = match &mut resampler {
            Some(r) if r.rate_in() == block.rate => r,
            Some(_) => {
                return Err(IngestError::Corrupt {
                    at_seconds: seconds.get(),
                })
            }
            None => resampler.insert(Resampler::new(block.rate)?),
        };
        r.push(&mono, &mut to_features)
    };
    decoder.run(&mut on_block, &|| seconds.get())?;
    if let Some(r) = resampler.as_mut() {
        r.finish(&mut to_features)?;
    }

    let duration = seconds.get();
    if duration == 0.0 {
        return Err(IngestError::Silent);
    }
    if duration < limits::MIN_SECONDS {
        return Err(IngestError::TooShort { seconds: duration });
    }
    let measured = features.finish();
    if measured.peak < SILENCE_PEAK {
        return Err(IngestError::Silent);
    }
    let info = decoder.info();
    let longest = measured
        .pauses
        .iter()
        .map(Pause::seconds)
        .fold(0.0, f64::max);
    let report = AudioReport {
        format: info.format.to_string(),
        codec: info.codec.clone(),
        sample_rate: info.sample_rate,
        channels: info.channels,
        duration_seconds: (duration * 1000.0).round() / 1000.0,
        speech_seconds: measured.speech_seconds,
        pauses: measured.pauses,
        pause_threshold_seconds: features::pauses::PAUSE_THRESHOLD_SECONDS,
        longest_pause_seconds: (longest * 1000.0).round() / 1000.0,
        loudness_lufs: measured.loudness_lufs,
        pitch_median_hz: measured.pitch_median_hz,
        pitch_variation_semitones: measured.pitch_variation_semitones,
        clipping_ratio: clipping.ratio(),
    };
    Ok(Analysis {
        report,
        pcm: pcm.map(|samples| Pcm { samples }),
    })
}

/// Averages the channels; a louder mix (sum) would clip, and one channel
/// alone would lose a speaker recorded on the other.
fn mix_to_mono(planes: &[Vec<f32>], mono: &mut Vec<f32>) {
    mono.clear();
    mono.extend_from_slice(&planes[0]);
    if planes.len() > 1 {
        for plane in &planes[1..] {
            for (m, s) in mono.iter_mut().zip(plane) {
                *m += s;
            }
        }
        let scale = 1.0 / planes.len() as f32;
        mono.iter_mut().for_each(|m| *m *= scale);
    }
}

/// symphonia skips MP4 tracks whose sample entry it does not know, so a
/// phone's AMR recording looks like a file without audio. Name the codec.
fn refine_missing_track(e: IngestError, path: &Path, sniffed: source::Sniffed) -> IngestError {
    if !matches!(e, IngestError::NoAudioTrack) || sniffed != source::Sniffed::Mp4 {
        return e;
    }
    match source::find_sample_entry(path, &[b"samr", b"sawb"]) {
        Some(0) => IngestError::UnsupportedCodec {
            codec: "AMR-NB".into(),
        },
        Some(_) => IngestError::UnsupportedCodec {
            codec: "AMR-WB".into(),
        },
        None => e,
    }
}

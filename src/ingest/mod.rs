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
pub mod mutate;
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

/// Files up to this size are decoded whole by [`quick_check`]: a phone's or
/// a browser's recording of several minutes is well under it, and decoding
/// it takes a fraction of a second. Larger files get the container's word.
pub const QUICK_DECODE_BYTES: u64 = 4 * 1024 * 1024;

/// What intake can learn about a recording in well under a second, so a rep
/// hears at once — not after minutes in the queue — that a file is cut off,
/// damaged or silent: a small file is decoded whole; a large one has its
/// container read (an MP4 whose boxes claim more bytes than the file has was
/// cut off in transfer) and its header opened. Returns the duration when it
/// can be known this cheaply.
pub fn quick_check(path: &Path, limits: &Limits) -> Result<Option<f64>, IngestError> {
    let size = std::fs::metadata(path)
        .map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if size <= QUICK_DECODE_BYTES {
        let analysis = analyze_file(path, limits, false)?;
        return Ok(Some(analysis.report.duration_seconds));
    }
    let (file, sniffed) = source::open(path, limits)?;
    if sniffed == source::Sniffed::Mp4 && source::mp4_cut_short(path) {
        return Err(IngestError::Incomplete { format: "MP4" });
    }
    let opened = catch_panic(|| Decoder::open(file, path, sniffed)).unwrap_or_else(|| {
        Err(IngestError::BadHeader {
            what: "the decoder could not make sense of it".into(),
        })
    });
    let decoder = opened.map_err(|e| refine_missing_track(e, path, sniffed))?;
    Ok(decoder.declared_seconds())
}

fn catch_panic<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

fn analyze(
    decoder: &mut Decoder,
    limits: &Limits,
    keep_pcm: bool,
) -> Result<Analysis, IngestError> {
    // Decoding (this thread) and feature extraction (a second thread) each
    // take about half the work; running them side by side halves the wall
    // time. The bounded channel keeps memory flat if features fall behind.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<f32>>(FEATURE_QUEUE);
    let (decoded, measured) = std::thread::scope(|scope| {
        let worker = scope.spawn(move || -> Result<features::DeliveryMeasures, IngestError> {
            let mut features = Features::new()?;
            for chunk in rx {
                features.push(&chunk)?;
            }
            Ok(features.finish())
        });
        let decoded = decode_all(decoder, limits, keep_pcm, tx);
        let measured = worker
            .join()
            .unwrap_or(Err(IngestError::Corrupt { at_seconds: 0.0 }));
        (decoded, measured)
    });
    let (duration, clipping, pcm) = match decoded {
        Ok(d) => d,
        // If the feature thread failed, the decoder only saw a closed channel.
        Err(e) => return Err(measured.err().unwrap_or(e)),
    };
    let measured = measured?;
    if duration == 0.0 {
        return Err(IngestError::Silent);
    }
    if duration < limits::MIN_SECONDS {
        return Err(IngestError::TooShort { seconds: duration });
    }
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

/// Chunks of 16 kHz audio in flight to the feature thread (32 × 4096 samples).
const FEATURE_QUEUE: usize = 32;
const FEATURE_CHUNK: usize = 4096;

/// Decodes, mixes and resamples the whole track, sending 16 kHz mono chunks
/// to `tx`. Returns the decoded duration, the clipping count and the PCM if kept.
fn decode_all(
    decoder: &mut Decoder,
    limits: &Limits,
    keep_pcm: bool,
    tx: std::sync::mpsc::SyncSender<Vec<f32>>,
) -> Result<(f64, Clipping, Option<Vec<f32>>), IngestError> {
    let mut clipping = Clipping::default();
    let mut pcm = keep_pcm.then(Vec::new);
    let mut resampler: Option<Resampler> = None;
    let mut mono = Vec::new();
    let mut batch = Vec::with_capacity(FEATURE_CHUNK);
    // Seconds decoded so far, counted in source frames at the source rate.
    let seconds = std::cell::Cell::new(0.0f64);
    let stopped = || IngestError::Internal("the feature thread stopped".into());

    let mut to_features = |samples: &[f32]| -> Result<(), IngestError> {
        if let Some(pcm) = pcm.as_mut() {
            pcm.extend_from_slice(samples);
        }
        batch.extend_from_slice(samples);
        if batch.len() >= FEATURE_CHUNK {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(FEATURE_CHUNK));
            tx.send(full).map_err(|_| stopped())?;
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
    if !batch.is_empty() {
        tx.send(batch).map_err(|_| stopped())?;
    }
    Ok((seconds.get(), clipping, pcm))
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

//! How much a single upload may cost us. Checked while decoding, never from
//! headers alone, because headers lie (a 30 KB MP3 can claim three hours).

/// Limits applied to one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Longest recording accepted, in seconds of decoded audio.
    pub max_seconds: f64,
}

impl Default for Limits {
    /// A certification pitch is 3–5 minutes; 20 minutes and 200 MB leave room
    /// for long intros and uncompressed WAV without letting one upload tie up
    /// a worker.
    fn default() -> Self {
        Limits {
            max_bytes: 200 * 1024 * 1024,
            max_seconds: 20.0 * 60.0,
        }
    }
}

/// Anything shorter cannot be a pitch, and the delivery features would be noise.
pub const MIN_SECONDS: f64 = 2.0;

/// Channel counts above this are not a voice recording; they are a broken or
/// hostile header, and honouring them would multiply per-packet allocations.
pub const MAX_CHANNELS: usize = 32;

/// Sample rates outside this range are a broken header (8 kHz phone audio is
/// the lowest real case; 384 kHz the highest any recorder writes).
pub const SAMPLE_RATE_RANGE: std::ops::RangeInclusive<u32> = 4_000..=384_000;

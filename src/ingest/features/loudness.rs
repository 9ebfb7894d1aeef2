//! Integrated loudness (EBU R128) of the 16 kHz mono mix, with `ebur128`.
//! Measuring the mono mix rather than the source channels keeps the value the
//! same whatever container, channel layout or rate the rep recorded with.

use ebur128::{EbuR128, Mode};

use crate::ingest::{IngestError, SAMPLE_RATE};

pub struct Loudness(EbuR128);

impl Loudness {
    pub fn new() -> Result<Self, IngestError> {
        EbuR128::new(1, SAMPLE_RATE, Mode::I)
            .map(Loudness)
            .map_err(|e| IngestError::Internal(format!("loudness meter: {e}")))
    }

    pub fn push(&mut self, samples: &[f32]) -> Result<(), IngestError> {
        self.0
            .add_frames_f32(samples)
            .map_err(|e| IngestError::Internal(format!("loudness meter: {e}")))
    }

    /// `None` when nothing passed the absolute gate (-70 LUFS): silence has
    /// no loudness, and -inf is not valid JSON.
    pub fn lufs(&self) -> Option<f64> {
        self.0.loudness_global().ok().filter(|l| l.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_has_no_loudness() {
        let mut l = Loudness::new().unwrap();
        l.push(&vec![0.0; 16_000 * 3]).unwrap();
        assert_eq!(l.lufs(), None);
    }
}

//! Clipping: the share of decoded samples at full scale. Counted on the
//! source channels before mixing and resampling, which would smear the flat
//! tops that give clipping away.

/// 16-bit full scale is 32767/32768 = 0.99997; anything this close is clipped.
const FULL_SCALE: f32 = 0.999;

#[derive(Default)]
pub struct Clipping {
    clipped: u64,
    total: u64,
}

impl Clipping {
    pub fn push(&mut self, samples: &[f32]) {
        self.total += samples.len() as u64;
        self.clipped += samples.iter().filter(|s| s.abs() >= FULL_SCALE).count() as u64;
    }

    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.clipped as f64 / self.total as f64
        }
    }
}

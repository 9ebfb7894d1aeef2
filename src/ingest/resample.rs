//! Mono mix at any rate in, 16 kHz out, a chunk at a time.
//!
//! rubato's synchronous FFT resampler: the ratio is fixed per file, and it is
//! both the fastest and the cleanest of rubato's resamplers for that case.
//! Only one chunk of input and one of output are held, whatever the length.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

use super::{IngestError, SAMPLE_RATE};

const CHUNK: usize = 1024;

pub struct Resampler {
    inner: Option<Fft<f32>>,
    rate_in: u32,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output frames still to drop: the resampler's start-up delay.
    skip: usize,
    frames_in: u64,
    frames_out: u64,
}

impl Resampler {
    pub fn new(rate_in: u32) -> Result<Self, IngestError> {
        let inner = if rate_in == SAMPLE_RATE {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    rate_in as usize,
                    SAMPLE_RATE as usize,
                    CHUNK,
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| IngestError::Internal(format!("resampler for {rate_in} Hz: {e}")))?,
            )
        };
        let (skip, out_len) = match &inner {
            Some(r) => (r.output_delay(), r.output_frames_max()),
            None => (0, 0),
        };
        Ok(Resampler {
            inner,
            rate_in,
            pending: Vec::with_capacity(CHUNK),
            out: vec![0.0; out_len],
            skip,
            frames_in: 0,
            frames_out: 0,
        })
    }

    pub fn rate_in(&self) -> u32 {
        self.rate_in
    }

    /// Feeds mono samples at `rate_in`; `sink` receives 16 kHz mono chunks.
    pub fn push(
        &mut self,
        mut mono: &[f32],
        sink: &mut dyn FnMut(&[f32]) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        self.frames_in += mono.len() as u64;
        if self.inner.is_none() {
            self.frames_out += mono.len() as u64;
            return sink(mono);
        }
        while !mono.is_empty() {
            let take = (CHUNK - self.pending.len()).min(mono.len());
            self.pending.extend_from_slice(&mono[..take]);
            mono = &mono[take..];
            if self.pending.len() == CHUNK {
                self.process(None, sink)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Flushes what is buffered and the resampler's tail, then trims the output
    /// to exactly the input's duration.
    pub fn finish(
        &mut self,
        sink: &mut dyn FnMut(&[f32]) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        if self.inner.is_none() {
            return Ok(());
        }
        let wanted = self.frames_in * SAMPLE_RATE as u64 / self.rate_in as u64;
        let mut rounds = 0;
        while self.frames_out < wanted && rounds < 8 {
            let partial = self.pending.len();
            self.process(Some(partial), sink)?;
            self.pending.clear();
            rounds += 1;
        }
        Ok(())
    }

    fn process(
        &mut self,
        partial: Option<usize>,
        sink: &mut dyn FnMut(&[f32]) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(());
        };
        let internal = |e: &dyn std::fmt::Display| IngestError::Internal(format!("resampler: {e}"));
        self.pending.resize(CHUNK, 0.0);
        let input = InterleavedSlice::new(&self.pending, 1, CHUNK).map_err(|e| internal(&e))?;
        let out_frames = self.out.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.out, 1, out_frames).map_err(|e| internal(&e))?;
        let mut indexing = Indexing::new();
        indexing.partial_len = partial;
        let (_, produced) = inner
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| internal(&e))?;
        let skipped = self.skip.min(produced);
        self.skip -= skipped;
        let wanted = self.frames_in * SAMPLE_RATE as u64 / self.rate_in as u64;
        let room = wanted.saturating_sub(self.frames_out) as usize;
        let emit = &self.out[skipped..produced];
        let emit = if partial.is_some() {
            &emit[..emit.len().min(room)]
        } else {
            emit
        };
        self.frames_out += emit.len() as u64;
        sink(emit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample(rate: u32, input: &[f32], piece: usize) -> Vec<f32> {
        let mut r = Resampler::new(rate).unwrap();
        let mut out = Vec::new();
        let mut sink = |s: &[f32]| {
            out.extend_from_slice(s);
            Ok(())
        };
        for chunk in input.chunks(piece) {
            r.push(chunk, &mut sink).unwrap();
        }
        r.finish(&mut sink).unwrap();
        out
    }

    #[test]
    fn output_has_the_input_duration_at_16k() {
        for rate in [8_000, 22_050, 44_100, 48_000] {
            let input = vec![0.1f32; rate as usize * 3 + 77];
            let out = resample(rate, &input, 997);
            let expected = (input.len() as u64 * 16_000 / rate as u64) as usize;
            assert_eq!(out.len(), expected, "rate {rate}");
        }
    }

    #[test]
    fn a_tone_keeps_its_frequency_and_phase_alignment() {
        let rate = 44_100;
        let hz = 440.0;
        let input: Vec<f32> = (0..rate * 2)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() as f32 * 0.5)
            .collect();
        let out = resample(rate as u32, &input, 4096);
        // After the delay is trimmed, output sample n matches the tone at time n/16000.
        let err = (4000..28_000)
            .map(|n| {
                (out[n] as f64
                    - 0.5 * (2.0 * std::f64::consts::PI * hz * n as f64 / 16_000.0).sin())
                .abs()
            })
            .fold(0.0, f64::max);
        assert!(err < 0.02, "max error {err}");
    }
}

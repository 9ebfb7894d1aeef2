//! Splitting long audio for size-limited APIs at the quietest moment near each
//! limit, so no word is cut in half and times can be shifted back exactly.

use std::ops::Range;

/// 20 ms at 16 kHz: short enough to land in the gap between two words.
const FRAME: usize = 320;

/// Sample ranges covering `samples` in order, each at most `max_len` long.
/// Each cut is at the lowest-energy frame in the last quarter before the limit.
pub fn split_on_silence(samples: &[f32], max_len: usize) -> Vec<Range<usize>> {
    let max_len = max_len.max(4 * FRAME);
    let mut chunks = Vec::new();
    let mut start = 0;
    while samples.len() - start > max_len {
        let hard_end = start + max_len;
        let window = start + max_len * 3 / 4..hard_end;
        let cut = quietest_frame(samples, window).unwrap_or(hard_end);
        chunks.push(start..cut);
        start = cut;
    }
    chunks.push(start..samples.len());
    chunks
}

/// `parts` consecutive ranges covering `samples`, of about equal length, each
/// cut at the quietest frame within `reach` samples of the even split point:
/// the pieces the local backend decodes side by side, one core each.
pub fn split_evenly_on_silence(samples: &[f32], parts: usize, reach: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let mut chunks = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 1..parts {
        let even = samples.len() * k / parts;
        let window =
            even.saturating_sub(reach).max(start + FRAME)..(even + reach).min(samples.len());
        if window.start + FRAME >= window.end {
            continue;
        }
        let cut = quietest_frame(samples, window).unwrap_or(even);
        if cut > start {
            chunks.push(start..cut);
            start = cut;
        }
    }
    chunks.push(start..samples.len());
    chunks
}

/// Middle of the quietest whole frame inside `window`.
fn quietest_frame(samples: &[f32], window: Range<usize>) -> Option<usize> {
    (window.start..window.end.saturating_sub(FRAME))
        .step_by(FRAME / 2)
        .map(|at| {
            let energy: f32 = samples[at..at + FRAME].iter().map(|s| s * s).sum();
            (at + FRAME / 2, energy)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(mid, _)| mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(len: usize) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * 0.1).sin() * 0.5).collect()
    }

    #[test]
    fn short_audio_is_one_chunk() {
        assert_eq!(split_on_silence(&tone(1000), 16_000), vec![0..1000]);
        assert_eq!(split_on_silence(&[], 16_000), vec![0..0]);
    }

    #[test]
    fn cuts_land_in_the_silence_and_cover_everything() {
        // 10 s of tone with a 0.2 s gap at 8.5 s; limit 10 s -> one cut in the gap.
        let mut audio = tone(16_000 * 12);
        for s in &mut audio[136_000..139_200] {
            *s = 0.0;
        }
        let chunks = split_on_silence(&audio, 160_000);
        assert_eq!(chunks.len(), 2);
        let cut = chunks[0].end;
        assert!((136_000..139_200).contains(&cut), "cut at {cut}");
        assert_eq!(chunks[1], cut..audio.len());
    }

    #[test]
    fn even_parts_are_cut_in_the_pause_nearest_the_middle() {
        // 20 s of tone with pauses at 6 s and 10.5 s: two parts cut in the second.
        let mut audio = tone(16_000 * 20);
        for gap in [96_000..99_200, 168_000..171_200] {
            audio[gap].fill(0.0);
        }
        let parts = split_evenly_on_silence(&audio, 2, 16_000 * 3);
        assert_eq!(parts.len(), 2);
        assert!((168_000..171_200).contains(&parts[0].end), "{parts:?}");
        assert_eq!(parts[1], parts[0].end..audio.len());
        assert_eq!(
            split_evenly_on_silence(&audio, 1, 16_000),
            vec![0..audio.len()]
        );
        let three = split_evenly_on_silence(&audio, 3, 16_000);
        assert_eq!(three.len(), 3);
        assert!(three
            .windows(2)
            .all(|w| w[0].end == w[1].start && !w[0].is_empty()));
    }

    #[test]
    fn every_chunk_respects_the_limit_without_silence() {
        let audio = tone(100_000);
        let chunks = split_on_silence(&audio, 10_000);
        assert!(chunks.iter().all(|c| c.len() <= 10_000 && !c.is_empty()));
        assert_eq!(chunks.first().unwrap().start, 0);
        assert_eq!(chunks.last().unwrap().end, 100_000);
        assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
    }
}

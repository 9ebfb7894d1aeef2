//! Byte mutations of recordings, for fuzzing the decode entry point
//! (`src/bin/fuzz-ingest.rs` runs it for as long as asked; the test suite runs
//! a bounded number). Deterministic from a seed, so a crash found once is
//! found again from the seed and the round printed with it.
//!
//! The mutations are the ways real uploads go wrong and hostile ones are made:
//! bit flips, bytes overwritten with boundary values (0, 0xFF, 0x7F, 0x80 —
//! length and size fields), truncation, a repeated or deleted range (a
//! resumed upload, a chunk lost), a splice of two recordings, and garbage
//! inserted inside a header.

/// xorshift64*: small, fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Most bytes one mutated input may have: mutations never grow a file past
/// twice its seed plus a little, so memory stays bounded however long a run.
fn cap(seed_len: usize) -> usize {
    seed_len.saturating_mul(2).saturating_add(4096)
}

/// One to four mutations of `seed`, `other` as a splice partner.
pub fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        apply(&mut out, other, rng);
        out.truncate(cap(seed.len()));
    }
    out
}

fn apply(out: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    let len = out.len();
    // Headers are where parsers trust numbers: aim half the edits there.
    let at = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            rng.below(len.min(512))
        } else {
            rng.below(len)
        }
    };
    match rng.below(7) {
        0 if len > 0 => {
            let i = at(rng);
            out[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            const BOUNDARY: [u8; 4] = [0x00, 0xFF, 0x7F, 0x80];
            let i = at(rng);
            let n = (1 + rng.below(8)).min(len - i);
            let b = BOUNDARY[rng.below(4)];
            out[i..i + n].fill(b);
        }
        2 => out.truncate(rng.below(len + 1)),
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(4096));
            let chunk = out[i..i + n].to_vec();
            let j = rng.below(out.len() + 1);
            out.splice(j..j, chunk);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(4096));
            out.drain(i..i + n);
        }
        5 if !other.is_empty() => {
            let cut = rng.below(len + 1);
            let from = rng.below(other.len());
            out.truncate(cut);
            out.extend_from_slice(&other[from..]);
        }
        _ => {
            let i = at(rng).min(out.len());
            let n = 1 + rng.below(64);
            let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            out.splice(i..i, junk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutations_and_sizes_stay_bounded() {
        let seed: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..500 {
            let x = mutate(&seed, &seed[..100], &mut a);
            assert_eq!(x, mutate(&seed, &seed[..100], &mut b));
            assert!(x.len() <= cap(seed.len()));
        }
    }
}

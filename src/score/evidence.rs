//! Checks a judge's quote against the transcript and times it.
//!
//! A judge (model or code) may misquote or invent; only words that were
//! actually said count as evidence, and their times come from the transcript,
//! never from the judge. Matching is on normalised tokens (case, punctuation,
//! whitespace ignored) and tolerates small ASR differences: a quote is found
//! when a contiguous run of transcript words matches at least
//! [`MIN_MATCH_RATIO`] of its tokens in order.

use crate::score::judge::Evidence;
use crate::transcribe::Transcript;

/// Share of quote tokens that must match, in order, a contiguous run.
pub const MIN_MATCH_RATIO: f64 = 0.9;
/// Shorter quotes match almost anywhere and prove nothing.
pub const MIN_QUOTE_TOKENS: usize = 3;
/// Longer quotes are rejected rather than searched (bounded work per quote).
pub const MAX_QUOTE_TOKENS: usize = 120;

/// The transcript as normalised tokens, each pointing back at its word.
/// Build once per transcript when checking many quotes.
pub struct TokenIndex<'t> {
    transcript: &'t Transcript,
    tokens: Vec<String>,
    word_of: Vec<usize>,
}

impl<'t> TokenIndex<'t> {
    pub fn new(transcript: &'t Transcript) -> Self {
        let mut tokens = Vec::new();
        let mut word_of = Vec::new();
        for (i, w) in transcript.words.iter().enumerate() {
            for t in normalise(&w.text) {
                tokens.push(t);
                word_of.push(i);
            }
        }
        Self {
            transcript,
            tokens,
            word_of,
        }
    }

    /// The transcript words the quote stands for, with their times, or `None`
    /// when the quote was not said (or is too short or too long to check).
    pub fn find(&self, quote: &str) -> Option<Evidence> {
        let q = normalise(quote);
        let m = q.len();
        if !(MIN_QUOTE_TOKENS..=MAX_QUOTE_TOKENS).contains(&m) || self.tokens.is_empty() {
            return None;
        }
        // Allow a word or two inserted or dropped by ASR around the quote length.
        let slack = (m / 10).max(1);
        let min_len = m.saturating_sub(slack).max(1);
        let mut best: Option<(f64, usize, usize)> = None;
        for start in 0..self.tokens.len() {
            let longest = (m + slack).min(self.tokens.len() - start);
            if longest < min_len {
                break;
            }
            // One table per start gives the match count for every window length.
            let matched = lcs_by_prefix(&q, &self.tokens[start..start + longest]);
            for (len, &hits) in matched.iter().enumerate().skip(min_len) {
                let ratio = hits as f64 / m.max(len) as f64;
                if ratio >= MIN_MATCH_RATIO && best.is_none_or(|(r, _, _)| ratio > r) {
                    best = Some((ratio, start, start + len));
                }
            }
        }
        let (_, start, end) = best?;
        let first = *self.word_of.get(start)?;
        let last = *self.word_of.get(end - 1)?;
        let words = self.transcript.words.get(first..=last)?;
        Some(Evidence {
            quote: words
                .iter()
                .map(|w| w.text.trim())
                .collect::<Vec<_>>()
                .join(" "),
            start: words.first()?.start,
            end: words.last()?.end,
        })
    }
}

/// Checks one quote; see [`TokenIndex::find`].
pub fn verify_quote(transcript: &Transcript, quote: &str) -> Option<Evidence> {
    TokenIndex::new(transcript).find(quote)
}

/// Lowercase alphanumeric tokens; apostrophes vanish ("don't" → "dont"),
/// other punctuation splits ("real-time" → "real", "time").
pub fn normalise(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if c == '\'' || c == '’' {
            continue;
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Longest common subsequence of `a` with every prefix of `b` (index = prefix
/// length), where near-identical tokens count as equal.
fn lcs_by_prefix(a: &[String], b: &[String]) -> Vec<usize> {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if tokens_match(x, y) {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev
}

/// Equal, or one edit apart for words long enough that one edit is a
/// spelling slip ("colour"/"color") rather than a different word.
fn tokens_match(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if a.len().min(b.len()) < 5 || a.len().abs_diff(b.len()) > 4 {
        return false;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().min(b.len()) < 5 || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    within_one_edit(&a, &b)
}

fn within_one_edit(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut i = 0;
    while i < short.len() && short[i] == long[i] {
        i += 1;
    }
    if short.len() == long.len() {
        short[i + 1..] == long[i + 1..]
    } else {
        short[i..] == long[i + 1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::sentences::test_support::transcript;

    const SAID: &str = "Thanks for your time. Our platform closes the books in two days, not ten. \
                        Does that make sense for your team?";

    #[test]
    fn finds_an_exact_quote_with_times_from_the_words() {
        let t = transcript(SAID);
        let e = verify_quote(&t, "closes the books in two days").expect("quote was said");
        assert_eq!(e.quote, "closes the books in two days,");
        assert_eq!(e.start, t.words[6].start);
        assert_eq!(e.end, t.words[11].end);
    }

    #[test]
    fn ignores_case_punctuation_and_whitespace() {
        let t = transcript(SAID);
        let e = verify_quote(&t, "  CLOSES the   books... in two DAYS  ").expect("same words");
        assert_eq!(e.start, t.words[6].start);
    }

    #[test]
    fn tolerates_a_small_asr_difference_in_a_long_quote() {
        let t = transcript(SAID);
        // One word differs out of fourteen, and one word is misspelt by a letter.
        let e = verify_quote(
            &t,
            "our platform closes the books in two days not twelve does that make sence for",
        );
        assert!(e.is_some());
    }

    #[test]
    fn rejects_invented_and_too_short_quotes() {
        let t = transcript(SAID);
        assert!(verify_quote(&t, "we guarantee a fifty percent discount").is_none());
        assert!(verify_quote(&t, "closes the books in five days").is_none());
        assert!(verify_quote(&t, "two days").is_none());
        assert!(verify_quote(&t, "").is_none());
    }

    #[test]
    fn a_quote_spanning_non_adjacent_words_is_not_found() {
        let t = transcript(SAID);
        assert!(verify_quote(&t, "thanks for your team").is_none());
    }

    #[test]
    fn normalise_splits_punctuation_and_drops_apostrophes() {
        assert_eq!(
            normalise("Don't -- real-time, OK?"),
            ["dont", "real", "time", "ok"]
        );
    }
}

//! Marks disfluencies so scoring can count them.
//!
//! Single tokens ("um", "uh", "er", "hmm") are always fillers. "you know" and
//! "I mean" are fillers only when set off as an aside (after a sentence start
//! or comma, and followed by a comma or sentence end), so "do you know the
//! price" is left alone.

use super::Word;

const FILLER_WORDS: &[&str] = &[
    "um", "umm", "uhm", "uh", "uhh", "er", "erm", "ah", "hmm", "hm", "mm", "mmm", "mhm", "eh",
];
const FILLER_PHRASES: &[[&str; 2]] = &[["you", "know"], ["i", "mean"]];

/// Lowercase letters, digits and apostrophes only: "Um," -> "um".
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

pub fn is_filler_word(text: &str) -> bool {
    FILLER_WORDS.contains(&normalize(text).as_str())
}

/// Sets `is_filler` on every filler word. Never clears a flag a backend set.
pub fn mark_fillers(words: &mut [Word]) {
    for word in words.iter_mut() {
        if is_filler_word(&word.text) {
            word.is_filler = true;
        }
    }
    for i in 0..words.len().saturating_sub(1) {
        let pair = [normalize(&words[i].text), normalize(&words[i + 1].text)];
        let is_phrase = FILLER_PHRASES
            .iter()
            .any(|p| p[0] == pair[0] && p[1] == pair[1]);
        let opens_aside = i == 0 || words[i - 1].text.ends_with([',', '.', '?', '!', ';']);
        let closes_aside =
            words[i + 1].text.ends_with([',', '.', '?', '!', ';']) || i + 2 == words.len();
        if is_phrase && opens_aside && closes_aside {
            words[i].is_filler = true;
            words[i + 1].is_filler = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Word> {
        text.split_whitespace()
            .enumerate()
            .map(|(i, t)| Word {
                text: t.into(),
                start: i as f64,
                end: i as f64 + 0.5,
                confidence: None,
                is_filler: false,
            })
            .collect()
    }

    fn marked(text: &str) -> Vec<String> {
        let mut w = words(text);
        mark_fillers(&mut w);
        w.into_iter()
            .filter(|w| w.is_filler)
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn single_token_fillers_with_punctuation_and_case() {
        assert_eq!(
            marked("Um, so uh the UH... price is, hmm, fair"),
            ["Um,", "uh", "UH...", "hmm,"]
        );
        assert!(marked("the ultimate umbrella").is_empty());
    }

    #[test]
    fn you_know_only_as_an_aside() {
        assert_eq!(marked("It is, you know, faster."), ["you", "know,"]);
        assert_eq!(marked("You know, it works."), ["You", "know,"]);
        assert!(marked("Do you know the price?").is_empty());
        assert!(marked("Did you know, it works").is_empty());
        assert_eq!(marked("it scales, I mean."), ["I", "mean."]);
    }

    #[test]
    fn backend_flags_are_kept() {
        let mut w = words("hello there");
        w[1].is_filler = true;
        mark_fillers(&mut w);
        assert!(w[1].is_filler);
        assert!(!w[0].is_filler);
    }
}

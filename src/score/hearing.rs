//! What the recogniser misheard of the rubric's own words.
//!
//! A small speech model hears a product name it has never seen as something
//! close to it ("Talerly" for "Tillerly") or splits it into common words
//! ("Tiller Lee"). Left alone, every sentence that names the product drifts
//! away from the rubric's anchors and a good rep's points read as missed. The
//! rubric's `vocabulary` says which words the rep is expected to use, so a
//! near spelling of one of them is taken as that word for judging, and the
//! grade records each repair. Evidence is still quoted from what was heard.
//!
//! Only transcripts of audio are repaired: a typed pitch says what it says.

use serde::{Deserialize, Serialize};

use crate::transcribe::{Transcript, Word};

/// Vocabulary terms shorter than this are left alone: a near spelling of a
/// three-letter acronym is usually another ordinary word.
const MIN_TERM_LETTERS: usize = 5;

/// A word heard in place of a vocabulary term, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    pub term: String,
    pub heard: String,
    pub count: usize,
}

/// The transcript with near spellings of `vocabulary` terms replaced by the
/// terms (times kept, split words joined), and what was replaced.
pub fn repair(transcript: &Transcript, vocabulary: &[String]) -> (Transcript, Vec<Repair>) {
    let terms: Vec<(String, String)> = vocabulary
        .iter()
        .map(|t| (t.trim().to_string(), letters(t)))
        .filter(|(_, key)| key.chars().count() >= MIN_TERM_LETTERS)
        .collect();
    if terms.is_empty() || transcript.words.is_empty() {
        return (transcript.clone(), Vec::new());
    }
    let words = &transcript.words;
    let mut out: Vec<Word> = Vec::with_capacity(words.len());
    // Old word index → new word index, for the segments.
    let mut index = vec![0usize; words.len() + 1];
    let mut repairs: Vec<Repair> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        index[i] = out.len();
        let one = letters(&words[i].text);
        let two = words
            .get(i + 1)
            .map(|next| format!("{one}{}", letters(&next.text)));
        // A recogniser spells a name it does not know as a name, capitalised
        // ("Talerly"); a lower-case near spelling ("tillers") is an ordinary
        // word the rep said.
        let capitalised = words[i]
            .text
            .trim()
            .chars()
            .next()
            .is_some_and(char::is_uppercase);
        let single = terms
            .iter()
            .find(|(_, key)| capitalised && heard_as(&one, key));
        let pair = two
            .as_deref()
            .and_then(|joined| terms.iter().find(|(_, key)| close(joined, key)));
        // A name split in two ("Tiller Lee") is the better reading than its
        // first half alone being a near spelling of it.
        let pair = pair.filter(|(term, _)| one != letters(term));
        match (single, pair) {
            (Some((term, _)), None) => {
                note(&mut repairs, term, &words[i].text);
                out.push(Word {
                    text: keep_punctuation(&words[i].text, term),
                    ..words[i].clone()
                });
                i += 1;
            }
            (_, Some((term, _))) => {
                let next = &words[i + 1];
                note(
                    &mut repairs,
                    term,
                    &format!("{} {}", words[i].text.trim(), next.text.trim()),
                );
                out.push(Word {
                    text: keep_punctuation(&next.text, term),
                    start: words[i].start,
                    end: next.end,
                    confidence: match (words[i].confidence, next.confidence) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    },
                    is_filler: false,
                });
                index[i + 1] = out.len() - 1;
                i += 2;
            }
            _ => {
                out.push(words[i].clone());
                i += 1;
            }
        }
    }
    index[words.len()] = out.len();
    if repairs.is_empty() {
        return (transcript.clone(), repairs);
    }
    let segments = transcript
        .segments
        .iter()
        .map(|s| {
            let start = index[s.words.start.min(words.len())];
            let end = index[s.words.end.min(words.len())];
            crate::transcribe::Segment {
                words: start..end.max(start),
                ..s.clone()
            }
        })
        .collect();
    let text = out
        .iter()
        .map(|w| w.text.trim())
        .collect::<Vec<_>>()
        .join(" ");
    repairs.sort_by(|a, b| a.term.cmp(&b.term).then(a.heard.cmp(&b.heard)));
    (
        Transcript {
            text,
            words: out,
            segments,
            ..transcript.clone()
        },
        repairs,
    )
}

/// The words of `transcript` spoken between `start` and `end`, as heard.
pub fn heard_between(transcript: &Transcript, start: f64, end: f64) -> Option<String> {
    let words: Vec<&str> = transcript
        .words
        .iter()
        .filter(|w| w.end > start - 1e-6 && w.start < end + 1e-6)
        .map(|w| w.text.trim())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn note(repairs: &mut Vec<Repair>, term: &str, heard: &str) {
    let heard = heard
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_string();
    match repairs
        .iter_mut()
        .find(|r| r.term == term && r.heard.eq_ignore_ascii_case(&heard))
    {
        Some(r) => r.count += 1,
        None => repairs.push(Repair {
            term: term.to_string(),
            heard,
            count: 1,
        }),
    }
}

/// A single heard word that is a near spelling of the term, not the term.
fn heard_as(word: &str, key: &str) -> bool {
    word != key && close(word, key)
}

/// Near spellings: the same first letter, a similar length, and an edit
/// distance of at most a quarter of the term's letters.
fn close(word: &str, key: &str) -> bool {
    let (w, k): (Vec<char>, Vec<char>) = (word.chars().collect(), key.chars().collect());
    if w.len() < MIN_TERM_LETTERS - 1 || w.first() != k.first() || w.len().abs_diff(k.len()) > 2 {
        return false;
    }
    levenshtein(&w, &k) <= (k.len() / 4).max(1)
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn letters(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The term in place of the heard word, with the heard word's trailing
/// punctuation (a sentence break must stay where the recogniser put it).
fn keep_punctuation(heard: &str, term: &str) -> String {
    let tail: String = heard
        .trim_end()
        .chars()
        .rev()
        .take_while(|c| !c.is_alphanumeric())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let lead = if heard.starts_with(' ') { " " } else { "" };
    format!("{lead}{term}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcribe::Segment;

    fn heard(text: &str) -> Transcript {
        let words: Vec<Word> = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                text: format!(" {w}"),
                start: i as f64,
                end: i as f64 + 0.8,
                confidence: Some(0.9),
                is_filler: false,
            })
            .collect();
        let n = words.len();
        let segments = vec![Segment {
            text: text.into(),
            start: 0.0,
            end: n as f64,
            words: 0..n,
            no_speech_prob: None,
            avg_logprob: None,
        }];
        Transcript {
            text: text.into(),
            ..Transcript::heard_for_tests(words, segments)
        }
    }

    fn vocab() -> Vec<String> {
        vec!["Tillerly".into(), "CoreSuite".into(), "VAT".into()]
    }

    #[test]
    fn near_spellings_and_split_names_become_the_term() {
        let (t, repairs) = repair(
            &heard("Talerly connects to Core Suite. Tiller Lee helps."),
            &vocab(),
        );
        let texts: Vec<&str> = t.words.iter().map(|w| w.text.trim()).collect();
        assert_eq!(
            texts,
            [
                "Tillerly",
                "connects",
                "to",
                "CoreSuite.",
                "Tillerly",
                "helps."
            ]
        );
        // A joined word spans both heard words' times.
        assert_eq!((t.words[3].start, t.words[3].end), (3.0, 4.8));
        assert_eq!(t.segments[0].words, 0..6);
        assert_eq!(repairs.len(), 3, "{repairs:?}");
        assert!(repairs
            .iter()
            .any(|r| r.heard == "Talerly" && r.term == "Tillerly"));
    }

    #[test]
    fn exact_terms_ordinary_words_and_short_terms_are_left_alone() {
        let said = "Tillerly keeps your vats and tillers in order, like CoreSuite.";
        let (t, repairs) = repair(&heard(said), &vocab());
        assert!(repairs.is_empty(), "{repairs:?}");
        assert_eq!(t, heard(said));
    }

    #[test]
    fn heard_between_quotes_what_was_heard() {
        let t = heard("Talerly connects to Core Suite.");
        assert_eq!(heard_between(&t, 0.0, 0.8).as_deref(), Some("Talerly"));
        assert_eq!(heard_between(&t, 3.0, 4.8).as_deref(), Some("Core Suite."));
    }
}

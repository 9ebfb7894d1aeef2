//! What we tell a backend before it listens: "keep the ums" and "these names
//! exist". Whisper copies the style of its prompt, so a prompt full of
//! disfluencies makes it write them down instead of tidying them away.

/// OpenAI's own suggestion for keeping filler words in Whisper output.
pub const VERBATIM_PROMPT: &str =
    "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking.";

/// Whisper reads at most 224 prompt tokens; this keeps the vocabulary well inside.
const MAX_VOCABULARY_CHARS: usize = 400;
const MAX_TERM_CHARS: usize = 64;

/// Vocabulary terms made safe to send: no control characters (a NUL would
/// abort the C prompt string), trimmed, de-duplicated, each and all bounded.
pub fn clean_vocabulary(vocabulary: &[String]) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut total = 0;
    for raw in vocabulary {
        let term: String = raw
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TERM_CHARS)
            .collect();
        let term = term.split_whitespace().collect::<Vec<_>>().join(" ");
        if term.is_empty() || terms.iter().any(|t| t.eq_ignore_ascii_case(&term)) {
            continue;
        }
        if total + term.len() > MAX_VOCABULARY_CHARS {
            tracing::warn!(
                term,
                "vocabulary too long for the prompt; later terms left out"
            );
            break;
        }
        total += term.len() + 2;
        terms.push(term);
    }
    terms
}

/// The initial prompt: verbatim style first, then the names to spell right.
pub fn whisper_prompt(vocabulary: &[String]) -> String {
    let terms = clean_vocabulary(vocabulary);
    if terms.is_empty() {
        VERBATIM_PROMPT.to_string()
    } else {
        format!("{VERBATIM_PROMPT} We talked about {}.", terms.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_keeps_verbatim_style_and_lists_clean_terms() {
        let vocab = vec![
            "Acme\0Cloud".to_string(),
            "  Globex  ".into(),
            "globex".into(),
            "".into(),
        ];
        let p = whisper_prompt(&vocab);
        assert!(p.starts_with(VERBATIM_PROMPT));
        assert!(p.ends_with("We talked about AcmeCloud, Globex."), "{p}");
        assert!(!p.contains('\0'));
        assert_eq!(whisper_prompt(&[]), VERBATIM_PROMPT);
    }

    #[test]
    fn vocabulary_is_bounded() {
        let vocab: Vec<String> = (0..500).map(|i| format!("Product{i}")).collect();
        let terms = clean_vocabulary(&vocab);
        assert!(terms.len() < 500);
        assert!(terms.iter().map(|t| t.len() + 2).sum::<usize>() <= MAX_VOCABULARY_CHARS + 2);
        assert_eq!(
            clean_vocabulary(&["x".repeat(1000)])[0].len(),
            MAX_TERM_CHARS
        );
    }
}

//! The judge must grade the rubric it is given, not one it was tuned on: no
//! product, brand, rubric id or criterion id of any rubric shipped or used in
//! a labelled set may appear anywhere in the scoring code (`src/score`),
//! comments and unit tests included — a product name in a test sentence is
//! how tuning starts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rubric_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let shipped = root().join("rubrics");
    for entry in std::fs::read_dir(&shipped).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "toml") {
            files.push(p);
        }
    }
    for entry in std::fs::read_dir(shipped.join("tests")).unwrap().flatten() {
        let p = entry.path().join("rubric.toml");
        if p.exists() {
            files.push(p);
        }
    }
    assert!(files.len() >= 6, "found the rubrics: {files:?}");
    files
}

/// Names that identify one product or rubric: the rubric ids, criterion ids
/// of more than one word (a bare "price" is an ordinary word), and every
/// capitalised vocabulary term (brands, products, places, acronyms).
fn forbidden() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in rubric_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let doc: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Some(id) = doc.get("id").and_then(|v| v.as_str()) {
            names.insert(id.to_string());
        }
        for term in doc
            .get("vocabulary")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
        {
            if term.chars().next().is_some_and(char::is_uppercase) && term.len() >= 3 {
                names.insert(term.to_string());
            }
        }
        for criterion in doc
            .get("criteria")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(id) = criterion.get("id").and_then(|v| v.as_str()) {
                if id.contains('_') {
                    names.insert(id.to_string());
                }
            }
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_scoring_code_names_no_product_rubric_or_criterion() {
    let names = forbidden();
    assert!(names.contains("Ledgerly"), "{names:?}");
    let mut files = Vec::new();
    rust_files(&root().join("src/score"), &mut files);
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for name in &names {
                if contains_word(line, name) {
                    found.push(format!("{}:{}: {name}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "names from rubrics in src/score:\n{}",
        found.join("\n")
    );
}

/// `name` in `line` as a whole word (so "FX" does not match "FXaa", nor
/// "price_objection" inside "price_objections_x").
fn contains_word(line: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    line.match_indices(name).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

//! Rubric files: the real ones load clean; broken ones report every problem
//! at the right line and column.

use std::path::{Path, PathBuf};

use pitchgrade::rubric::lint::check;
use pitchgrade::rubric::{self, Rubric};

const RUBRICS: [&str; 2] = [
    "rubrics/ledgerly-sales-pitch.toml",
    "rubrics/ledgerly-technical-demo.toml",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A valid small rubric to break in each test.
const GOOD: &str = r#"id = "acme-sales-pitch"
track = "sales"
version = 3

[scenario]
buyer = "VP of Finance"
objections = ["price"]

[pass]
score = 70
borderline = 5
required = ["value_prop"]

[[talking_point]]
id = "value_prop"
weight = 20
description = "Closes the month 3x faster"
coaching = "Say the outcome as a number."

[[objection]]
id = "price"
weight = 15
raised_as = "It costs more than our current tool"
good_response = "Acknowledges, reframes, checks back"
coaching = "Acknowledge, then reframe."

[timing]
weight = 10
target_seconds = [180, 300]
limit_seconds = [120, 420]

[delivery]
weight = 10
words_per_minute = [130, 175]
max_filler_ratio = 0.04
max_pause_seconds = 4
"#;

fn problems(source: &str) -> Vec<String> {
    match check(source) {
        Ok(_) => Vec::new(),
        Err(ps) => ps.iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_has(problems: &[String], prefix: &str, needle: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(prefix) && p.contains(needle)),
        "expected a problem at {prefix} containing {needle:?}, got {problems:#?}"
    );
}

/// "line:col:" of the `nth` (0-based) occurrence of `text` in `src`, found
/// independently of the code under test.
fn at(src: &str, text: &str, nth: usize) -> String {
    let offset = src
        .match_indices(text)
        .nth(nth)
        .unwrap_or_else(|| panic!("{text:?} #{nth} not in source"))
        .0;
    position(src, offset)
}

fn position(src: &str, offset: usize) -> String {
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("{line}:{col}:")
}

/// "line:col:" just after the first occurrence of `prefix` (where its value starts).
fn after(src: &str, prefix: &str) -> String {
    let offset = src
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not in source"))
        + prefix.len();
    position(src, offset)
}

#[test]
fn the_real_rubrics_have_no_problems() {
    for path in RUBRICS {
        let loaded = rubric::load(&repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(loaded.sha256.len(), 64);
        assert!(
            loaded.rubric.criteria().len() >= 10,
            "{path} is too thin to be realistic"
        );
    }
    assert!(rubric::lint_files(&RUBRICS.map(repo)).is_empty());
}

#[test]
fn the_good_fixture_is_good() {
    assert_eq!(problems(GOOD), Vec::<String>::new());
}

#[test]
fn every_unknown_key_is_reported_at_its_own_position() {
    let src = GOOD
        .replace("version = 3", "version = 3\nowner = \"enablement\"")
        .replace(
            "max_pause_seconds = 4",
            "max_pause_seconds = 4\nmax_pause_secs = 5",
        )
        .replace("weight = 20\n", "weight = 20\nwieght = 2\n");
    let ps = problems(&src);
    assert_has(
        &ps,
        &at(&src, "owner", 0),
        "unknown key `owner` in the top level",
    );
    assert_has(
        &ps,
        &at(&src, "wieght", 0),
        "unknown key `wieght` in [talking_point]",
    );
    assert_has(
        &ps,
        &at(&src, "max_pause_secs =", 0),
        "unknown key `max_pause_secs` in [delivery]",
    );
    assert_eq!(ps.len(), 3, "{ps:#?}");
}

#[test]
fn semantic_problems_point_at_the_offending_value() {
    let src = GOOD
        .replace("weight = 20", "weight = 0")
        .replace("weight = 15", "weight = 150000")
        .replace("target_seconds = [180, 300]", "target_seconds = [300, 180]")
        .replace(
            "required = [\"value_prop\"]",
            "required = [\"value_prop\", \"next_step\"]",
        )
        .replace(
            "objections = [\"price\"]",
            "objections = [\"price\", \"timeline\"]",
        )
        .replace(
            "description = \"Closes the month 3x faster\"",
            "description = \"  \"",
        );
    let ps = problems(&src);
    assert_has(
        &ps,
        &at(&src, "\"timeline\"", 0),
        "\"timeline\" has no [[objection]]",
    );
    assert_has(
        &ps,
        &at(&src, "\"next_step\"", 0),
        "\"next_step\" does not exist",
    );
    assert_has(&ps, &after(&src, "weight = "), "weight must be positive");
    assert_has(&ps, &at(&src, "\"  \"", 0), "description is empty");
    assert_has(&ps, &at(&src, "150000", 0), "absurd");
    assert_has(
        &ps,
        &at(&src, "[300, 180]", 0),
        "impossible: min 300 is not below max 180",
    );
    assert_eq!(ps.len(), 6, "{ps:#?}");
}

#[test]
fn duplicate_ids_and_targets_outside_limits() {
    let src = GOOD
        .replace("id = \"price\"", "id = \"value_prop\"")
        .replace("limit_seconds = [120, 420]", "limit_seconds = [200, 420]");
    let ps = problems(&src);
    assert_has(
        &ps,
        &at(&src, "\"value_prop\"", 2),
        "duplicate criterion id \"value_prop\"",
    );
    assert_has(&ps, &at(&src, "[180, 300]", 0), "outside the hard limits");
}

#[test]
fn syntax_and_type_errors_carry_positions() {
    let ps = problems(&GOOD.replace("version = 3", "version = = 3"));
    assert!(ps.first().is_some_and(|p| p.starts_with("3:")), "{ps:#?}");
    let src = GOOD.replace("score = 70", "score = \"seventy\"");
    let ps = problems(&src);
    assert_has(&ps, &at(&src, "\"seventy\"", 0), "");
}

#[test]
fn load_rejects_a_broken_file_with_file_line_col() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.toml");
    let src = GOOD.replace("max_filler_ratio = 0.04", "max_filler_ratio = 4");
    std::fs::write(&path, &src).expect("write");
    let err = rubric::load(&path).expect_err("must not load");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "broken.toml:{}",
            after(&src, "max_filler_ratio = ")
        )),
        "{text}"
    );
    assert!(text.contains("between 0 and 1"), "{text}");
    let lines = rubric::lint_files(&[path.clone(), dir.path().join("missing.toml")]);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[1].contains("cannot read rubric"), "{lines:#?}");
}

#[test]
fn content_hash_changes_with_any_byte() {
    let a = rubric::parse::parse("a", GOOD.as_bytes()).expect("good");
    let b = rubric::parse::parse("b", format!("{GOOD}\n# comment\n").as_bytes()).expect("good");
    assert_eq!(a.rubric, b.rubric);
    assert_ne!(a.sha256, b.sha256);
}

#[test]
fn schema_describes_the_real_rubrics() {
    let schema: serde_json::Value =
        serde_json::from_str(&rubric::schema::rubric_schema_json()).expect("schema is JSON");
    let props = schema["properties"].as_object().expect("properties");
    for path in RUBRICS {
        let loaded = rubric::load(&repo(path)).expect("loads");
        let json = serde_json::to_value(&loaded.rubric).expect("to json");
        for key in json.as_object().expect("object").keys() {
            assert!(
                props.contains_key(key),
                "{path}: key {key} missing from the schema"
            );
        }
        let back: Rubric = serde_json::from_value(json).expect("roundtrip");
        assert_eq!(back, loaded.rubric);
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for key in ["id", "track", "version", "scenario", "pass"] {
        assert!(
            required.contains(&key),
            "{key} must be required: {required:?}"
        );
    }
}

//! The program file enablement edits in git: the shipped one loads, a broken
//! one is refused with every problem at once (by key path), and the server
//! will not start on a broken one — rights must never follow a file nobody
//! meant to write.

#[path = "common/certify.rs"]
mod seed;

use std::path::{Path, PathBuf};
use std::process::Command;

use pitchgrade::certify::program::{Program, ProgramError, RepProfile, RubricTracks};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn problems(text: &str, catalog: Option<&RubricTracks>) -> Vec<String> {
    match Program::parse("test.toml", text, catalog) {
        Err(ProgramError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn the_shipped_program_loads_against_the_shipped_rubrics() {
    let catalog = RubricTracks::load_dir(&root().join("rubrics")).expect("rubrics lint clean");
    let program = Program::load(&root().join("config/program.toml"), Some(&catalog))
        .expect("config/program.toml is valid");
    let sales = program.track("sales").expect("a sales track");
    assert_eq!(sales.term_months, 12);
    assert_eq!(program.track("technical").unwrap().term_months, 24);
    // The adaptive path: MSP partners' reps pitch a different buyer.
    let msp = RepProfile {
        firm_id: Some("cedar"),
        segment: Some("msp"),
        role: None,
    };
    let reseller = RepProfile {
        firm_id: Some("acme"),
        segment: None,
        role: None,
    };
    assert_eq!(
        program.rubric_for(msp, "sales"),
        Some("ledgerly-sales-pitch-msp")
    );
    assert_eq!(
        program.rubric_for(reseller, "sales"),
        Some("ledgerly-sales-pitch")
    );
    assert!(program.rights_of("sales").contains(&"selling".to_string()));
}

#[test]
fn every_problem_is_reported_at_once_by_key() {
    let broken = seed::PROGRAM
        .replace("[rights.pre_sales]", "[rights.Pre-Sales]")
        .replace("term_months = 24", "term_months = 18")
        .replace("reminder_days = [60, 30, 7]", "reminder_days = [7, 30]")
        .replace("max_attempts = 2", "max_attempts = 0")
        .replace("base = \"sales\"\n", "")
        .replace("min_coverage = 0.3", "min_coverage = 1.5")
        .replace(
            "[[tier.require]]\ntrack = \"technical\"",
            "[[tier.require]]\ntrack = \"delivery\"",
        )
        .replace("segments = [\"msp\"]\n", "");
    let found = problems(&broken, None);
    let expect = [
        "rights.Pre-Sales: a right's name is lowercase",
        "tracks.technical.term_months: 18 is not allowed",
        "tracks.sales.reminder_days: list offsets from the largest down",
        "tracks.technical.retake.max_attempts: must be at least 1",
        "tracks.technical.rights: unknown right \"pre_sales\"",
        "tracks.close-specialist.base: a specialty track must name the role track",
        "tracks.sales.path[0]: a path must name the firms or segments",
        "tier[0].require[1].track: unknown track \"delivery\"",
        "tier[1].require[0].min_coverage: 1.5 is not a share",
    ];
    for e in expect {
        assert!(
            found.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn rubric_ids_are_checked_against_the_rubric_folder() {
    let catalog = RubricTracks::load_dir(&root().join("rubrics")).expect("rubrics");
    let text = seed::PROGRAM
        // A sales track pointing at the technical demo...
        .replace(
            "rubric = \"ledgerly-sales-pitch\"\n",
            "rubric = \"ledgerly-technical-demo\"\n",
        )
        // ...which the technical track also uses; and a rubric that does not exist.
        .replace(
            "rubric = \"ledgerly-sales-pitch-msp\"",
            "rubric = \"ledgerly-sales-pitch-mps\"",
        );
    let found = problems(&text, Some(&catalog));
    let has = |needle: &str| found.iter().any(|p| p.contains(needle));
    assert!(
        has("rubric \"ledgerly-technical-demo\" is a technical rubric, but this is a sales track"),
        "{found:#?}"
    );
    assert!(
        has("rubric \"ledgerly-technical-demo\" is already used by track"),
        "{found:#?}"
    );
    assert!(
        has("tracks.sales.path[0].rubric: unknown rubric \"ledgerly-sales-pitch-mps\""),
        "{found:#?}"
    );
    // The specialty's rubric is not in the shipped folder either.
    assert!(
        has("unknown rubric \"ledgerly-close-specialist\""),
        "{found:#?}"
    );
}

#[test]
fn a_misspelt_key_is_an_error_not_a_default() {
    let text = seed::PROGRAM.replace("cooldown_days = 7", "cooldown_dyas = 7");
    match Program::parse("test.toml", &text, None) {
        Err(ProgramError::Syntax { message, .. }) => {
            assert!(message.contains("cooldown_dyas"), "{message}")
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn serve(program: &Path, data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pitchgrade"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--workers", "0"])
        .arg("--database-url")
        .arg(format!("sqlite://{}", data.join("db.sqlite").display()))
        .arg("--storage-url")
        .arg(format!("file://{}", data.join("objects").display()))
        .arg("--rubrics")
        .arg(root().join("rubrics"))
        .arg("--program")
        .arg(program)
        .output()
        .expect("run pitchgrade serve")
}

#[test]
fn the_server_will_not_start_on_a_broken_program() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program.toml");
    let text = std::fs::read_to_string(root().join("config/program.toml"))
        .unwrap()
        .replace("term_months = 24", "term_months = 36");
    std::fs::write(&program, text).unwrap();
    // It exits by itself (a server that started would never return).
    let out = serve(&program, dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tracks.technical.term_months: 36 is not allowed"),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");
}

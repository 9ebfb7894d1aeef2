//! JSON Schema of the rubric format, generated from the Rust types so the
//! schema editors use can never drift from what the grader accepts.

use super::model::Rubric;

pub fn rubric_schema() -> schemars::Schema {
    schemars::schema_for!(Rubric)
}

/// The schema as pretty JSON, as `pitchgrade rubric schema` prints it.
pub fn rubric_schema_json() -> String {
    // A `Schema` is a JSON value; serialising one cannot fail.
    serde_json::to_string_pretty(rubric_schema().as_value()).unwrap_or_default()
}

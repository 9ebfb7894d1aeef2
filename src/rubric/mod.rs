//! Rubric files: the format enablement teams write, lint and JSON Schema.

pub mod catalog;
pub mod criteria;
pub mod history;
pub mod lint;
pub mod model;
pub mod parse;
pub mod schema;
pub mod validate;

pub use catalog::{CatalogError, RubricCatalog};
pub use criteria::{CriterionKind, CriterionSpec};
pub use model::{
    Delivery, JudgeBars, Objection, PassRule, Rubric, Scenario, TalkingPoint, Timing, Tone,
    TrackKind,
};
pub use parse::{lint_files, load, load_named, parse, LoadedRubric, RubricError, MAX_RUBRIC_BYTES};

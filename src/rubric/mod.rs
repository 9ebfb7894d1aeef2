//! Rubric files: the format enablement teams write, lint and JSON Schema.

pub mod model;

pub use model::{
    Delivery, Objection, PassRule, Rubric, Scenario, TalkingPoint, Timing, Tone, Track,
};

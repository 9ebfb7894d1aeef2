//! Find every problem in a rubric file, each with its line and column.
//!
//! Serde stops at the first error; an enablement person fixing a file wants
//! them all at once. So lint works in three passes over the same text:
//! syntax (toml's parser), unknown keys (the parsed tree walked against the
//! JSON Schema generated from the types), then types and semantic rules
//! (`validate`), whose field paths are mapped back to spans in the tree.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde_json::Value;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::model::Rubric;
use super::schema::rubric_schema;
use super::validate::{validate, Seg};

/// One problem at a 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Checks a rubric's text. Returns the rubric only when there is no problem at all.
pub fn check(source: &str) -> Result<Rubric, Vec<Problem>> {
    let at = |span: Option<Range<usize>>, message: String| {
        let (line, column) = line_col(source, span.map_or(0, |s| s.start));
        Problem {
            line,
            column,
            message,
        }
    };
    let (tree, syntax) = DeTable::parse_recoverable(source);
    if !syntax.is_empty() {
        return Err(syntax
            .iter()
            .map(|e| at(e.span(), e.message().trim().to_string()))
            .collect());
    }

    let mut problems = Vec::new();
    let schema = rubric_schema();
    let root = schema.as_value();
    // Unknown keys are reported, then removed from a copy of the tree, so the
    // type and semantic checks still run on the rest of the file.
    let mut known_only = tree.clone();
    let mut unknown = Vec::new();
    walk_table(
        known_only.get_mut(),
        "the top level",
        root,
        root,
        &mut unknown,
    );
    problems.extend(unknown.into_iter().map(|(span, m)| at(Some(span), m)));

    match Rubric::deserialize(toml::de::Deserializer::from(known_only)) {
        Err(e) => problems.push(at(e.span(), e.message().trim().to_string())),
        Ok(rubric) => {
            for finding in validate(&rubric) {
                problems.push(at(Some(locate(&tree, &finding.path)), finding.message));
            }
            if problems.is_empty() {
                return Ok(rubric);
            }
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems.dedup();
    Err(problems)
}

fn walk_table(
    table: &mut DeTable<'_>,
    where_: &str,
    schema: &Value,
    root: &Value,
    out: &mut Vec<(Range<usize>, String)>,
) {
    let Some(object) = find_schema(schema, root, "properties") else {
        return;
    };
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    let closed = object.get("additionalProperties") == Some(&Value::Bool(false));
    let mut unknown = Vec::new();
    for (key, value) in table.iter_mut() {
        let name: &str = key.get_ref();
        match properties.get(name) {
            Some(sub) => walk_value(value.get_mut(), name, sub, root, out),
            None if closed => {
                let expected: Vec<&str> = properties.keys().map(String::as_str).collect();
                out.push((
                    key.span(),
                    format!(
                        "unknown key `{name}` in {where_}; expected one of: {}",
                        expected.join(", ")
                    ),
                ));
                unknown.push(name.to_string());
            }
            None => {}
        }
    }
    for name in unknown {
        table.remove(name.as_str());
    }
}

fn walk_value(
    value: &mut DeValue<'_>,
    name: &str,
    schema: &Value,
    root: &Value,
    out: &mut Vec<(Range<usize>, String)>,
) {
    match value {
        DeValue::Table(table) => walk_table(table, &format!("[{name}]"), schema, root, out),
        DeValue::Array(array) => {
            if let Some(items) = find_schema(schema, root, "items").and_then(|s| s.get("items")) {
                for item in array.iter_mut() {
                    walk_value(item.get_mut(), name, items, root, out);
                }
            }
        }
        _ => {}
    }
}

/// Follows `$ref` and `anyOf`/`oneOf`/`allOf` (how schemars writes `Option<T>`
/// and named types) to the first schema that has `key`.
fn find_schema<'a>(schema: &'a Value, root: &'a Value, key: &str) -> Option<&'a Value> {
    fn go<'a>(s: &'a Value, root: &'a Value, key: &str, depth: usize) -> Option<&'a Value> {
        if depth > 16 {
            return None;
        }
        if s.get(key).is_some() {
            return Some(s);
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let target = r.strip_prefix('#').and_then(|p| root.pointer(p))?;
            return go(target, root, key, depth + 1);
        }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            if let Some(branches) = s.get(combinator).and_then(Value::as_array) {
                if let Some(hit) = branches.iter().find_map(|b| go(b, root, key, depth + 1)) {
                    return Some(hit);
                }
            }
        }
        None
    }
    go(schema, root, key, 0)
}

/// The span of the value at `path`, or of the deepest part of it that exists
/// (a missing optional key is reported at its table).
fn locate(tree: &Spanned<DeTable<'_>>, path: &[Seg]) -> Range<usize> {
    let mut span = tree.span();
    let mut current: Option<&DeValue<'_>> = None;
    let mut table = Some(tree.get_ref());
    for seg in path {
        let next = match (seg, table, current) {
            (Seg::Key(k), Some(t), _) => {
                t.iter().find(|(key, _)| key.get_ref() == k).map(|(_, v)| v)
            }
            (Seg::Index(i), _, Some(v)) => v.as_array().and_then(|a| a.get(*i)),
            _ => None,
        };
        let Some(next) = next else { break };
        span = next.span();
        current = Some(next.get_ref());
        table = next.get_ref().as_table();
    }
    span
}

/// 1-based line and character column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

//! The certification program: tracks, the rights they unlock, retake policy,
//! adaptive rubric paths and firm tier rules, in one TOML file that enablement
//! reviews in git (`config/program.toml`).
//!
//! The file is checked in full when it is loaded and every problem is reported
//! at once, by key path: a program that silently ignored a misspelt key or
//! accepted an 18-month term would hand out (or withhold) rights nobody agreed to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rubric::{self, TrackKind};

/// Terms a certification may run for; 24 is for stable products.
pub const ALLOWED_TERMS_MONTHS: [u32; 2] = [12, 24];
/// Program files are a few KiB; refuse anything large before parsing it.
pub const MAX_PROGRAM_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("{path}: cannot read the program file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_PROGRAM_BYTES} bytes; not a program file")]
    TooLarge { path: PathBuf },
    #[error("{source_name}: {message}")]
    Syntax {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {} problem(s):\n{}", problems.len(), problems.join("\n"))]
    Invalid {
        source_name: String,
        problems: Vec<String>,
    },
    #[error("rubric catalog {dir}: {message}")]
    Catalog { dir: PathBuf, message: String },
}

/// What the program needs to know about each rubric file: its track, so a
/// sales track cannot point at a technical demo by mistake.
#[derive(Debug, Clone, Default)]
pub struct RubricTracks {
    rubrics: BTreeMap<String, RubricTrack>,
}

#[derive(Debug, Clone)]
pub struct RubricTrack {
    pub track: TrackKind,
    pub version: u32,
    pub path: PathBuf,
}

impl RubricTracks {
    /// Loads and lints every `*.toml` directly inside `dir`, with the one
    /// loader the service uses (`rubric::RubricCatalog`). For callers that
    /// have not loaded the rubrics already, such as `pitchgrade report`.
    pub fn load_dir(dir: &Path) -> Result<RubricTracks, ProgramError> {
        let bad = |message: String| ProgramError::Catalog {
            dir: dir.to_path_buf(),
            message,
        };
        match rubric::RubricCatalog::load_dir(dir) {
            Ok(rubrics) => Ok(RubricTracks::from_rubrics(&rubrics)),
            // No rubrics is for the program's own checks to report, by the
            // track that names a missing one.
            Err(rubric::CatalogError::Empty(_)) => Ok(RubricTracks::default()),
            Err(rubric::CatalogError::Io { source, .. }) => Err(bad(source.to_string())),
            Err(e) => Err(bad(e.to_string())),
        }
    }

    /// What the program needs from rubrics already loaded, so a service reads
    /// (and lints) its rubric folder once.
    pub fn from_rubrics(rubrics: &rubric::RubricCatalog) -> RubricTracks {
        let mut catalog = RubricTracks::default();
        for loaded in rubrics.iter() {
            catalog.insert(
                loaded.rubric.id.clone(),
                loaded.rubric.track,
                loaded.rubric.version,
                PathBuf::from(&loaded.source),
            );
        }
        catalog
    }

    pub fn insert(&mut self, id: String, track: TrackKind, version: u32, path: PathBuf) {
        self.rubrics.insert(
            id,
            RubricTrack {
                track,
                version,
                path,
            },
        );
    }

    pub fn get(&self, id: &str) -> Option<&RubricTrack> {
        self.rubrics.get(id)
    }
}

/// The whole program as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    #[serde(default)]
    pub name: String,
    /// Every right a track may unlock, declared once so a typo in a track's
    /// `rights` list is an error rather than a right nobody checks.
    pub rights: BTreeMap<String, RightDef>,
    pub tracks: BTreeMap<String, Track>,
    /// Firm tiers, highest first: a firm holds the first tier whose rules all hold.
    #[serde(default, rename = "tier")]
    pub tiers: Vec<Tier>,
    /// What a partner firm's own admins may see (`[partners]`).
    #[serde(default)]
    pub partners: PartnerSettings,
    /// How long recordings and transcripts are kept (`[retention]`).
    #[serde(default)]
    pub retention: crate::privacy::RetentionPolicy,
    /// When AI–reviewer agreement raises an alert, and how much evidence any
    /// health verdict needs (`[calibration]`).
    #[serde(default)]
    pub calibration: super::calibration::CalibrationPolicy,
}

/// What partner admins may see beyond their firm's progress and grades.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerSettings {
    /// Whether a partner admin may play their reps' recordings. Off unless
    /// the vendor turns it on: a recording is a person's voice, and the
    /// grade with its quoted evidence is what a sales manager needs.
    #[serde(default)]
    pub admins_hear_recordings: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RightDef {
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// Filled from the table key at load.
    #[serde(skip)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    /// Role tracks (sales, technical, delivery, support) stand alone; a
    /// specialty is layered on a role track named in `base`.
    pub kind: TrackKind,
    /// For a specialty: the role track whose valid certification it requires.
    #[serde(default)]
    pub base: Option<String>,
    /// The rep role this track certifies (coverage counts reps of this role).
    /// Defaults to the kind for role tracks and to the base's role for specialties.
    #[serde(default)]
    pub role: Option<String>,
    /// The rubric (scenario) every rep gets unless a path below says otherwise.
    pub rubric: String,
    /// Adaptive paths: the first that matches the rep's firm or segment gives its rubric.
    #[serde(default, rename = "path")]
    pub paths: Vec<PathRule>,
    #[serde(default = "default_term")]
    pub term_months: u32,
    /// Days before expiry at which a reminder goes out, largest first.
    #[serde(default = "default_reminders")]
    pub reminder_days: Vec<u32>,
    #[serde(default)]
    pub retake: RetakePolicy,
    pub rights: Vec<String>,
}

fn default_term() -> u32 {
    12
}

fn default_reminders() -> Vec<u32> {
    vec![60]
}

/// A different scenario for some firms or segments, e.g. an MSP's reps pitch
/// to a different buyer than a reseller's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRule {
    #[serde(default)]
    pub firms: Vec<String>,
    #[serde(default)]
    pub segments: Vec<String>,
    pub rubric: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetakePolicy {
    /// After a failed attempt, the rep waits this long before the next.
    #[serde(default = "default_cooldown")]
    pub cooldown_days: u32,
    /// At most this many attempts in any rolling `window_days`; then coaching.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_window")]
    pub window_days: u32,
}

fn default_cooldown() -> u32 {
    7
}
fn default_max_attempts() -> u32 {
    3
}
fn default_window() -> u32 {
    90
}

impl Default for RetakePolicy {
    fn default() -> Self {
        RetakePolicy {
            cooldown_days: default_cooldown(),
            max_attempts: default_max_attempts(),
            window_days: default_window(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    #[serde(default, rename = "require")]
    pub requirements: Vec<TierRule>,
}

/// "At least `min_certified` reps of `role` hold a valid `track` certification,
/// and they are at least `min_coverage` of the firm's active reps in that role."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub track: String,
    /// Defaults to the track's role.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub min_certified: u32,
    /// Share (0–1) of the firm's active reps in the role holding the certification.
    #[serde(default)]
    pub min_coverage: f64,
}

/// Who is asking for a rubric: the rep's firm, the firm's segment and the
/// rep's role. `None` where the roster does not say (a rep not on it).
#[derive(Debug, Clone, Copy, Default)]
pub struct RepProfile<'a> {
    pub firm_id: Option<&'a str>,
    pub segment: Option<&'a str>,
    pub role: Option<&'a str>,
}

/// A scenario a rep may record: a track open to them and the rubric its
/// adaptive paths give their firm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offer {
    pub track_id: String,
    pub rubric_id: String,
}

impl Program {
    /// Reads and validates a program file; with a catalog, every rubric id must
    /// name a rubric of the right track.
    pub fn load(path: &Path, catalog: Option<&RubricTracks>) -> Result<Program, ProgramError> {
        use std::io::Read;
        let io = |source| ProgramError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_PROGRAM_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_PROGRAM_BYTES {
            return Err(ProgramError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| ProgramError::Syntax {
            source_name: path.display().to_string(),
            message: "not UTF-8 text".into(),
        })?;
        Program::parse(&path.display().to_string(), &text, catalog)
    }

    pub fn parse(
        source_name: &str,
        text: &str,
        catalog: Option<&RubricTracks>,
    ) -> Result<Program, ProgramError> {
        let mut program: Program = toml::from_str(text).map_err(|e| ProgramError::Syntax {
            source_name: source_name.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        for (id, track) in program.tracks.iter_mut() {
            track.id = id.clone();
        }
        let problems = program.problems(catalog);
        if !problems.is_empty() {
            return Err(ProgramError::Invalid {
                source_name: source_name.to_string(),
                problems,
            });
        }
        // Resolve defaults once, so callers never repeat the rule.
        let roles: HashMap<String, String> = program
            .tracks
            .values()
            .map(|t| (t.id.clone(), program.role_of(t)))
            .collect();
        for track in program.tracks.values_mut() {
            track.role = roles.get(&track.id).cloned();
        }
        for tier in &mut program.tiers {
            for rule in &mut tier.requirements {
                if rule.role.is_none() {
                    rule.role = roles.get(&rule.track).cloned();
                }
            }
        }
        Ok(program)
    }

    fn role_of(&self, track: &Track) -> String {
        if let Some(role) = &track.role {
            return role.clone();
        }
        match (&track.kind, &track.base) {
            (TrackKind::Specialty, Some(base)) => self
                .tracks
                .get(base)
                .map(|b| self.role_of(b))
                .unwrap_or_default(),
            (kind, _) => kind_name(*kind).to_string(),
        }
    }

    /// Every problem in the file, each prefixed with the key it concerns.
    fn problems(&self, catalog: Option<&RubricTracks>) -> Vec<String> {
        let mut out = Vec::new();
        for name in self.rights.keys() {
            if !is_name(name) {
                out.push(format!(
                    "rights.{name}: a right's name is lowercase letters, digits and underscores"
                ));
            }
        }
        if self.tracks.is_empty() {
            out.push("tracks: the program has no track".into());
        }
        out.extend(self.calibration.problems());
        let mut rubric_owner: HashMap<&str, &str> = HashMap::new();
        for (id, t) in &self.tracks {
            let at = format!("tracks.{id}");
            if !is_name(&id.replace('-', "_")) {
                out.push(format!(
                    "{at}: a track id is lowercase letters, digits, '_' or '-'"
                ));
            }
            if !ALLOWED_TERMS_MONTHS.contains(&t.term_months) {
                out.push(format!(
                    "{at}.term_months: {} is not allowed; a term is 12 or 24 months",
                    t.term_months
                ));
            }
            self.check_reminders(&at, t, &mut out);
            let r = &t.retake;
            if r.max_attempts == 0 {
                out.push(format!("{at}.retake.max_attempts: must be at least 1"));
            }
            if r.window_days == 0 {
                out.push(format!("{at}.retake.window_days: must be at least 1 day"));
            }
            if r.cooldown_days > 365 {
                out.push(format!(
                    "{at}.retake.cooldown_days: {} days is longer than a year",
                    r.cooldown_days
                ));
            }
            if t.rights.is_empty() {
                out.push(format!(
                    "{at}.rights: a track must unlock at least one right"
                ));
            }
            for right in &t.rights {
                if !self.rights.contains_key(right) {
                    out.push(format!(
                        "{at}.rights: unknown right {right:?}; declare it under [rights.{right}]"
                    ));
                }
            }
            match (t.kind, &t.base) {
                (TrackKind::Specialty, None) => out.push(format!(
                    "{at}.base: a specialty track must name the role track it builds on"
                )),
                (TrackKind::Specialty, Some(base)) => match self.tracks.get(base) {
                    None => out.push(format!("{at}.base: unknown track {base:?}")),
                    Some(b) if b.kind == TrackKind::Specialty => out.push(format!(
                        "{at}.base: {base:?} is a specialty; a specialty builds on a role track"
                    )),
                    Some(_) => {}
                },
                (_, Some(_)) => out.push(format!(
                    "{at}.base: only a specialty track has a base track"
                )),
                (_, None) => {}
            }
            if let Some(role) = &t.role {
                if !is_name(role) {
                    out.push(format!("{at}.role: {role:?} is not a valid role name"));
                }
            }
            let mut rubrics = vec![(format!("{at}.rubric"), t.rubric.as_str())];
            for (i, p) in t.paths.iter().enumerate() {
                let pat = format!("{at}.path[{i}]");
                if p.firms.is_empty() && p.segments.is_empty() {
                    out.push(format!(
                        "{pat}: a path must name the firms or segments it applies to"
                    ));
                }
                rubrics.push((format!("{pat}.rubric"), p.rubric.as_str()));
            }
            for (key, rubric_id) in rubrics {
                // One rubric, one track: a grade's rubric must say which
                // certification it counts towards.
                if let Some(other) = rubric_owner.insert(rubric_id, id) {
                    if other != id {
                        out.push(format!(
                            "{key}: rubric {rubric_id:?} is already used by track {other:?}"
                        ));
                    }
                }
                if let Some(catalog) = catalog {
                    match catalog.get(rubric_id) {
                        None => out.push(format!(
                            "{key}: unknown rubric {rubric_id:?} (no such id in the rubric folder)"
                        )),
                        Some(entry) if entry.track != t.kind => out.push(format!(
                            "{key}: rubric {rubric_id:?} is a {} rubric, but this is a {} track",
                            kind_name(entry.track),
                            kind_name(t.kind)
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
        let mut tier_names = BTreeSet::new();
        for (i, tier) in self.tiers.iter().enumerate() {
            let at = format!("tier[{i}]");
            if !is_name(&tier.name) {
                out.push(format!(
                    "{at}.name: {:?} is not a valid tier name",
                    tier.name
                ));
            }
            if !tier_names.insert(tier.name.as_str()) {
                out.push(format!("{at}.name: tier {:?} is declared twice", tier.name));
            }
            if tier.requirements.is_empty() {
                out.push(format!(
                    "{at}: a tier needs at least one [[tier.require]] rule"
                ));
            }
            for (j, rule) in tier.requirements.iter().enumerate() {
                let rat = format!("{at}.require[{j}]");
                if !self.tracks.contains_key(&rule.track) {
                    out.push(format!("{rat}.track: unknown track {:?}", rule.track));
                }
                if !(0.0..=1.0).contains(&rule.min_coverage) {
                    out.push(format!(
                        "{rat}.min_coverage: {} is not a share between 0 and 1",
                        rule.min_coverage
                    ));
                }
                if rule.min_certified == 0 && rule.min_coverage == 0.0 {
                    out.push(format!(
                        "{rat}: set min_certified or min_coverage, or the rule always holds"
                    ));
                }
            }
        }
        out
    }

    fn check_reminders(&self, at: &str, t: &Track, out: &mut Vec<String>) {
        let days = &t.reminder_days;
        if days.contains(&0) {
            out.push(format!(
                "{at}.reminder_days: offsets are days before expiry and must be positive"
            ));
        }
        if days.windows(2).any(|w| w[0] <= w[1]) {
            out.push(format!(
                "{at}.reminder_days: list offsets from the largest down, without repeats (e.g. [60, 30, 7]); got {days:?}"
            ));
        }
        // A reminder before the certification starts would be nonsense.
        let term_days = t.term_months * 28;
        if let Some(&max) = days.iter().max() {
            if max >= term_days {
                out.push(format!(
                    "{at}.reminder_days: {max} days is longer than the {}-month term",
                    t.term_months
                ));
            }
        }
    }

    pub fn track(&self, id: &str) -> Option<&Track> {
        self.tracks.get(id)
    }

    /// The track a rubric counts towards (its default or one of its paths).
    pub fn track_for_rubric(&self, rubric_id: &str) -> Option<&Track> {
        self.tracks
            .values()
            .find(|t| t.rubric == rubric_id || t.paths.iter().any(|p| p.rubric == rubric_id))
    }

    /// The rubric (scenario) this rep gets for `track`: the first path naming
    /// their firm or their firm's segment, else the track's default.
    pub fn rubric_for(&self, rep: RepProfile<'_>, track: &str) -> Option<&str> {
        let t = self.tracks.get(track)?;
        let hit = t.paths.iter().find(|p| {
            rep.firm_id.is_some_and(|f| p.firms.iter().any(|x| x == f))
                || rep
                    .segment
                    .is_some_and(|s| p.segments.iter().any(|x| x == s))
        });
        Some(hit.map_or(t.rubric.as_str(), |p| p.rubric.as_str()))
    }

    /// Whether a rep of this profile may take `track`: a track certifies one
    /// role (a specialty its base track's role), so a support engineer is not
    /// offered the sales pitch. A rep whose role the roster does not give is
    /// not held to one.
    pub fn open_to(&self, rep: RepProfile<'_>, track: &Track) -> bool {
        rep.role.is_none_or(|role| role == track.role())
    }

    /// Every scenario a rep of this profile may record, in track order: one
    /// per open track, the one its paths give the rep's firm.
    pub fn offered(&self, rep: RepProfile<'_>) -> Vec<Offer> {
        self.tracks
            .values()
            .filter(|t| self.open_to(rep, t))
            .filter_map(|t| {
                Some(Offer {
                    track_id: t.id.clone(),
                    rubric_id: self.rubric_for(rep, &t.id)?.to_string(),
                })
            })
            .collect()
    }

    /// The rights one track unlocks.
    pub fn rights_of(&self, track: &str) -> &[String] {
        self.tracks.get(track).map_or(&[], |t| t.rights.as_slice())
    }

    /// Rep roles the program knows (what coverage is measured over).
    /// Every firm segment an adaptive path names: a firm in another segment
    /// gets each track's default scenario.
    pub fn segments(&self) -> BTreeSet<&str> {
        self.tracks
            .values()
            .flat_map(|t| &t.paths)
            .flat_map(|p| &p.segments)
            .map(String::as_str)
            .collect()
    }

    pub fn roles(&self) -> BTreeSet<&str> {
        self.tracks
            .values()
            .filter_map(|t| t.role.as_deref())
            .collect()
    }
}

impl Track {
    /// The resolved role (always set after `Program::parse`).
    pub fn role(&self) -> &str {
        self.role.as_deref().unwrap_or("")
    }

    /// The reminder window: the largest offset, in days.
    pub fn window_days(&self) -> u32 {
        self.reminder_days.iter().copied().max().unwrap_or(0)
    }
}

pub fn kind_name(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Sales => "sales",
        TrackKind::Technical => "technical",
        TrackKind::Delivery => "delivery",
        TrackKind::Support => "support",
        TrackKind::Specialty => "specialty",
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

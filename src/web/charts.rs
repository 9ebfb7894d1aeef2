//! Charts drawn on the server as SVG from numbers: no script, no library, and
//! they print. Every chart carries a title and a description for screen
//! readers, and the page puts the same numbers in a table beside it.

use std::fmt::Write;

/// Escapes text for SVG/HTML content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 56.0;

fn open(id: &str, title: &str, desc: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-labelledby=\"{id}-t {id}-d\" id=\"{id}\"><title id=\"{id}-t\">{}</title>\
         <desc id=\"{id}-d\">{}</desc>",
        esc(title),
        esc(desc)
    )
}

/// y position of a 0–1 rate.
fn y_of(rate: f64) -> f64 {
    let plot = H - TOP - BOTTOM;
    TOP + plot * (1.0 - rate.clamp(0.0, 1.0))
}

/// Horizontal grid lines and labels at 0, 25, 50, 75, 100 %.
fn percent_axis(out: &mut String) {
    for p in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = y_of(p);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            p * 100.0
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{}\"/>",
        H - BOTTOM
    );
}

/// A line of rates (0–1) over labelled periods; gaps where a period is `None`.
pub fn rate_line(id: &str, title: &str, points: &[(String, Option<f64>)]) -> String {
    let desc = describe_rates(points);
    let mut out = open(id, title, &desc);
    percent_axis(&mut out);
    let n = points.len().max(1) as f64;
    let step = (W - LEFT - RIGHT) / n;
    let x_of = |i: usize| LEFT + step * (i as f64 + 0.5);
    let mut path = String::new();
    let mut pen_down = false;
    for (i, (_, rate)) in points.iter().enumerate() {
        match rate {
            Some(r) => {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    x_of(i),
                    y_of(*r)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(out, "<path class=\"line\" d=\"{}\"/>", path.trim_end());
    }
    for (i, (label, rate)) in points.iter().enumerate() {
        if let Some(r) = rate {
            let _ = write!(
                out,
                "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{}: {:.0}%</title></circle>",
                x_of(i),
                y_of(*r),
                esc(label),
                r * 100.0
            );
        }
        // Label every period when few, else at most six of them: at a
        // readable size, twelve week labels run into each other.
        let every = points.len().div_ceil(6).max(1);
        if i % every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x_of(i),
                H - BOTTOM + 18.0,
                esc(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

fn describe_rates(points: &[(String, Option<f64>)]) -> String {
    let known: Vec<String> = points
        .iter()
        .filter_map(|(l, r)| r.map(|r| format!("{l}: {:.0}%", r * 100.0)))
        .collect();
    if known.is_empty() {
        "No data yet.".into()
    } else {
        known.join("; ")
    }
}

/// One bar of [`band_bars`].
pub struct BandBar {
    pub label: String,
    pub rate: Option<f64>,
    /// Enough samples to read the rate against the band; a bar without is
    /// drawn plain and called too few, never too hard or too easy.
    pub judged: bool,
}

/// Bars of rates (0–1) against a shaded healthy band; judged bars outside the
/// band are drawn in the warning colour and say so in their tooltip.
pub fn band_bars(id: &str, title: &str, bars: &[BandBar], band: (f64, f64)) -> String {
    let rates: Vec<(String, Option<f64>)> =
        bars.iter().map(|b| (b.label.clone(), b.rate)).collect();
    let desc = format!(
        "Healthy band {:.0}% to {:.0}%. {}",
        band.0 * 100.0,
        band.1 * 100.0,
        describe_rates(&rates)
    );
    let mut out = open(id, title, &desc);
    let _ = write!(
        out,
        "<rect class=\"band\" x=\"{LEFT}\" y=\"{:.1}\" width=\"{}\" height=\"{:.1}\"/>",
        y_of(band.1),
        W - LEFT - RIGHT,
        y_of(band.0) - y_of(band.1)
    );
    percent_axis(&mut out);
    for edge in [band.0, band.1] {
        let _ = write!(
            out,
            "<line class=\"band-edge\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
            W - RIGHT,
            y = y_of(edge)
        );
    }
    let n = bars.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let width = (slot * 0.6).min(80.0);
    for (i, bar) in bars.iter().enumerate() {
        let (label, rate) = (&bar.label, &bar.rate);
        let cx = LEFT + slot * (i as f64 + 0.5);
        if let Some(r) = rate {
            let class = if !bar.judged {
                "few"
            } else if *r < band.0 {
                "low"
            } else if *r > band.1 {
                "high"
            } else {
                "ok"
            };
            let verdict = match class {
                "low" => " (below the band: too hard?)",
                "high" => " (above the band: too easy?)",
                "few" => " (too few first attempts to judge)",
                _ => "",
            };
            let _ = write!(
                out,
                "<rect class=\"bar {class}\" data-rate=\"{r:.3}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\">\
                 <title>{}: {:.0}%{verdict}</title></rect>\
                 <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}%</text>",
                cx - width / 2.0,
                y_of(*r),
                y_of(0.0) - y_of(*r),
                esc(label),
                r * 100.0,
                y_of(*r) - 4.0,
                r * 100.0
            );
        }
        let _ = write!(
            out,
            "<text x=\"{cx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            H - BOTTOM + 18.0,
            esc(&shorten(label, 22))
        );
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars of shares (0–1), one per row, with the figure at the end.
pub fn share_bars(id: &str, title: &str, rows: &[(String, f64, String)]) -> String {
    let row_h = 30.0;
    let height = TOP + row_h * rows.len().max(1) as f64 + 24.0;
    let label_w = 170.0;
    let plot = W - label_w - 70.0;
    let desc = if rows.is_empty() {
        "No data yet.".to_string()
    } else {
        rows.iter()
            .map(|(l, v, note)| format!("{l}: {:.0}% {note}", v * 100.0))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" role=\"img\" \
         aria-labelledby=\"{id}-t {id}-d\" id=\"{id}\"><title id=\"{id}-t\">{}</title>\
         <desc id=\"{id}-d\">{}</desc>",
        esc(title),
        esc(&desc)
    );
    for (i, (label, share, note)) in rows.iter().enumerate() {
        let y = TOP + row_h * i as f64;
        let w = plot * share.clamp(0.0, 1.0);
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"grid\" x=\"{label_w}\" y=\"{:.1}\" width=\"{plot:.1}\" height=\"18\" fill=\"#eef1f4\"/>\
             <rect class=\"bar\" data-share=\"{share:.3}\" x=\"{label_w}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"18\"><title>{}: {:.0}% {}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\">{:.0}%</text>",
            label_w - 8.0,
            y + 14.0,
            esc(&shorten(label, 24)),
            y,
            y,
            esc(label),
            share * 100.0,
            esc(note),
            label_w + plot + 6.0,
            y + 14.0,
            share * 100.0
        );
    }
    out.push_str("</svg>");
    out
}

/// Vertical bars of counts (e.g. certifications expiring per week).
pub fn count_bars(id: &str, title: &str, bars: &[(String, u64)]) -> String {
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let desc = if bars.iter().all(|(_, n)| *n == 0) {
        "None.".to_string()
    } else {
        bars.iter()
            .map(|(l, n)| format!("{l}: {n}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut out = open(id, title, &desc);
    let plot = H - TOP - BOTTOM;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
        W - RIGHT,
        y = TOP + plot
    );
    let n = bars.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let width = slot * 0.6;
    for (i, (label, count)) in bars.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let h = plot * (*count as f64 / max);
        let _ = write!(
            out,
            "<rect class=\"bar\" data-count=\"{count}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{h:.1}\"><title>{}: {count}</title></rect>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{count}</text>\
             <text x=\"{cx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            cx - width / 2.0,
            TOP + plot - h,
            esc(label),
            TOP + plot - h - 4.0,
            H - BOTTOM + 18.0,
            esc(label)
        );
    }
    out.push_str("</svg>");
    out
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = share_bars("c", "<t>", &[("A & <b>".into(), 0.5, "1/2".into())]);
        assert!(svg.contains("A &amp; &lt;b&gt;"));
        assert!(!svg.contains("<b>"));
    }

    fn bar(label: &str, rate: f64, judged: bool) -> BandBar {
        BandBar {
            label: label.into(),
            rate: Some(rate),
            judged,
        }
    }

    #[test]
    fn bars_outside_the_band_are_marked() {
        let svg = band_bars(
            "b",
            "first attempt",
            &[
                bar("easy", 0.95, true),
                bar("ok", 0.7, true),
                bar("hard", 0.3, true),
                bar("new", 0.2, false),
            ],
            (0.65, 0.80),
        );
        assert!(svg.contains("class=\"bar high\""));
        assert!(svg.contains("class=\"bar ok\""));
        assert!(svg.contains("class=\"bar low\""));
        assert_eq!(svg.matches("class=\"bar low\"").count(), 1);
        assert!(svg.contains("class=\"bar few\""));
        assert!(svg.contains("new: 20% (too few first attempts to judge)"));
    }

    #[test]
    fn a_gap_breaks_the_line() {
        let svg = rate_line(
            "l",
            "pass rate",
            &[
                ("w1".into(), Some(0.5)),
                ("w2".into(), None),
                ("w3".into(), Some(0.8)),
            ],
        );
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn twelve_weeks_get_six_labels_so_they_do_not_overlap() {
        let points: Vec<(String, Option<f64>)> = (1..=12)
            .map(|w| (format!("week{w:02}"), Some(0.5)))
            .collect();
        let svg = rate_line("l", "pass rate", &points);
        let labelled = points
            .iter()
            .filter(|(l, _)| svg.contains(&format!(">{l}</text>")))
            .count();
        assert_eq!(labelled, 6, "{svg}");
    }
}

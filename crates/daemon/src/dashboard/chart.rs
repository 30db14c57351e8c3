//! Charts drawn on the server as inline SVG: a line over time (sizes, durations) and a
//! strip of day cells (ok / failed / missed / late). No script draws anything.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::page::esc;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 12.0;

/// A line chart of `points` (time, value), the y axis labelled with `label(value)`.
/// Each point carries a `<title>` with its exact value, for a tooltip and for tests.
pub fn line(title: &str, points: &[(DateTime<Utc>, f64)], label: &dyn Fn(f64) -> String) -> String {
    let mut svg = format!(
        "<figure class=\"chart\"><figcaption>{}</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" class=\"empty\">no data yet</text></svg></figure>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    }
    let t0 = points.iter().map(|p| p.0).min().expect("points");
    let t1 = points.iter().map(|p| p.0).max().expect("points");
    let span = ((t1 - t0).num_milliseconds() as f64).max(1.0);
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let plot_w = WIDTH - LEFT - 10.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: DateTime<Utc>| {
        if points.len() == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + (t - t0).num_milliseconds() as f64 / span * plot_w
        }
    };
    let y = |v: f64| TOP + plot_h - v / top * plot_h;
    // Axes and their labels: 0 and the top of the scale, the first and last times.
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\"/>\
         <text class=\"tick\" x=\"{lx}\" y=\"{b}\" text-anchor=\"end\">{zero}</text>\
         <text class=\"tick\" x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{high}</text>\
         <text class=\"tick\" x=\"{LEFT}\" y=\"{HEIGHT}\">{from}</text>\
         <text class=\"tick\" x=\"{r}\" y=\"{HEIGHT}\" text-anchor=\"end\">{to}</text>",
        b = TOP + plot_h,
        r = LEFT + plot_w,
        lx = LEFT - 4.0,
        ty = TOP + 8.0,
        zero = esc(&label(0.0)),
        high = esc(&label(top)),
        from = t0.format("%m-%d %H:%M"),
        to = t1.format("%m-%d %H:%M"),
    );
    let path: Vec<String> = points
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
        .collect();
    let _ = write!(
        svg,
        "<polyline class=\"series\" points=\"{}\"/>",
        path.join(" ")
    );
    for (t, v) in points {
        let _ = write!(
            svg,
            "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" data-value=\"{v}\">\
             <title>{}: {}</title></circle>",
            x(*t),
            y(*v),
            t.format("%Y-%m-%d %H:%M:%S"),
            esc(&label(*v))
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// How one day of a job went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Day {
    /// Nothing was due and nothing ran.
    Idle,
    Ok,
    /// A success came, but after a scheduled time's grace had passed.
    Late,
    /// Runs, none of them a success.
    Failed,
    /// Runs were due and none happened.
    Missed,
}

impl Day {
    pub fn as_str(self) -> &'static str {
        match self {
            Day::Idle => "idle",
            Day::Ok => "ok",
            Day::Late => "late",
            Day::Failed => "failed",
            Day::Missed => "missed",
        }
    }
}

/// A row of day cells, oldest first, each with its date and state as a tooltip.
pub fn strip(days: &[(chrono::NaiveDate, Day)]) -> String {
    let cell = 14.0;
    let mut svg = format!(
        "<svg class=\"strip\" viewBox=\"0 0 {} {cell}\" role=\"img\" aria-label=\"last {} days\">",
        days.len() as f64 * (cell + 2.0),
        days.len()
    );
    for (i, (date, day)) in days.iter().enumerate() {
        let _ = write!(
            svg,
            "<rect class=\"day {s}\" data-day=\"{date}\" data-state=\"{s}\" x=\"{}\" y=\"0\" \
             width=\"{cell}\" height=\"{cell}\" rx=\"2\"><title>{date}: {s}</title></rect>",
            i as f64 * (cell + 2.0),
            s = day.as_str(),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_line_chart_has_a_point_per_value_and_escapes_its_title() {
        let t = Utc::now();
        let pts = [(t, 1.0), (t + TimeDelta::seconds(60), 3.0)];
        let svg = line("a <b>", &pts, &|v| format!("{v}"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("a &lt;b&gt;") && !svg.contains("<b>"));
        assert!(svg.contains("data-value=\"3\""));
        assert!(line("x", &[], &|v| format!("{v}")).contains("no data yet"));
    }
}

//! Bar charts as inline SVG, drawn by the server (no chart JavaScript):
//! [`bars`] turns a series of days into an `<svg>` with a `<title>` and a
//! `<desc>` for assistive technology (`role="img"`, `aria-labelledby`),
//! axis labels (the largest value and 0, the first, middle and last day)
//! and a tooltip per bar. Pages put the same figures in a table next to
//! the chart for anyone who cannot see it.
//!
//! A chart is a pure function of its data, so it renders the same on the
//! server and in the browser and hydrates without a difference.

/// One stacked part of every bar (e.g. "succeeded"), with its colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    /// A CSS colour.
    pub colour: &'static str,
    /// One value per label; negative values are drawn as 0.
    pub values: Vec<i64>,
}

/// The colours of stacked series, in order (distinguishable in light and
/// dark themes; the legend and tooltips name them too).
pub const PALETTE: [&str; 4] = ["#4f46e5", "#dc2626", "#d97706", "#6b7280"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

/// `&`, `<`, `>`, `"` and `'` as XML entities.
pub fn escape(s: &str) -> String {
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

/// A bar chart of `series` stacked over `labels` (one bar per label).
/// `id` must be unique in the page (it names the title and description);
/// `format` writes a value for the axis and the tooltips.
pub fn bars(
    id: &str,
    title: &str,
    desc: &str,
    labels: &[String],
    series: &[Series],
    format: &dyn Fn(i64) -> String,
) -> String {
    let n = labels.len().max(1);
    let totals: Vec<i64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0).max(0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / n as f64;
    let bar_w = (step * 0.7).max(1.0);
    let y_of = |v: i64| TOP + plot_h - plot_h * (v as f64) / (max as f64);
    let id = escape(id);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\" class=\"h-auto w-full text-ink\" data-chart=\"{id}\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(desc)
    );
    // Axes and the two value labels.
    let base = TOP + plot_h;
    svg.push_str(&format!(
        "<g fill=\"none\" stroke=\"currentColor\" stroke-opacity=\"0.4\">\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\"/>\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/></g>",
        WIDTH - RIGHT
    ));
    svg.push_str(&format!(
        "<g fill=\"currentColor\" font-size=\"12\" text-anchor=\"end\">\
         <text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{base}\">{}</text></g>",
        LEFT - 6.0,
        TOP + 10.0,
        escape(&format(max)),
        LEFT - 6.0,
        escape(&format(0)),
    ));
    // Bars, stacked bottom up, each part with its tooltip.
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + step * i as f64 + (step - bar_w) / 2.0;
        let mut below = 0i64;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0).max(0);
            if v == 0 {
                continue;
            }
            let (top, bottom) = (y_of(below + v), y_of(below));
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{}: {} {}</title></rect>",
                (bottom - top).max(0.5),
                s.colour,
                escape(label),
                escape(&format(v)),
                escape(&s.name),
            ));
            below += v;
        }
    }
    // Day labels: first, middle, last.
    let mut marks = vec![0, labels.len() / 2, labels.len().saturating_sub(1)];
    marks.dedup();
    svg.push_str("<g fill=\"currentColor\" font-size=\"12\" text-anchor=\"middle\">");
    for i in marks {
        if let Some(label) = labels.get(i) {
            let x = (LEFT + step * i as f64 + step / 2.0).clamp(LEFT + 24.0, WIDTH - RIGHT - 24.0);
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                HEIGHT - BOTTOM + 18.0,
                escape(label)
            ));
        }
    }
    svg.push_str("</g>");
    // Legend when several series share a bar.
    if series.len() > 1 {
        svg.push_str("<g font-size=\"12\">");
        let mut x = LEFT;
        for s in series {
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"currentColor\">{}</text>",
                HEIGHT - 14.0,
                s.colour,
                x + 14.0,
                HEIGHT - 5.0,
                escape(&s.name)
            ));
            x += 24.0 + 7.5 * s.name.chars().count() as f64;
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(v: i64) -> String {
        v.to_string()
    }

    #[test]
    fn a_chart_is_labelled_and_has_a_bar_per_nonzero_value() {
        let labels: Vec<String> = ["12-01", "12-02", "12-03"].map(String::from).to_vec();
        let svg = bars(
            "signups",
            "Sign-ups <per day>",
            "Sign-ups over 3 days & more",
            &labels,
            &[Series {
                name: "sign-ups".into(),
                colour: PALETTE[0],
                values: vec![2, 0, 5],
            }],
            &plain,
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"signups-title signups-desc\""));
        assert!(svg.contains("<title id=\"signups-title\">Sign-ups &lt;per day&gt;</title>"));
        assert!(svg.contains("Sign-ups over 3 days &amp; more"));
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains("<title>12-03: 5 sign-ups</title>"));
        // The axis shows the largest value and 0, and the first and last day.
        assert!(svg.contains(">5</text>") && svg.contains(">0</text>"));
        assert!(svg.contains(">12-01</text>") && svg.contains(">12-03</text>"));
    }

    #[test]
    fn stacked_series_have_a_legend_and_empty_data_draws_no_bar() {
        let labels: Vec<String> = vec!["d1".into()];
        let series = [
            Series {
                name: "succeeded".into(),
                colour: PALETTE[0],
                values: vec![3],
            },
            Series {
                name: "failed".into(),
                colour: PALETTE[1],
                values: vec![1],
            },
        ];
        let svg = bars("g", "t", "d", &labels, &series, &plain);
        // Two bar parts and two legend swatches.
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains(">succeeded</text>") && svg.contains(">failed</text>"));
        assert!(svg.contains(">4</text>"), "the stack's total is the top");
        let empty = bars("e", "t", "d", &labels, &[], &plain);
        assert_eq!(empty.matches("<rect").count(), 0);
    }
}

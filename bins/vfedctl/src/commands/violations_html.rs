//! The violations report as one HTML page to print or send (R24).

use super::violations::ReportView;

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page: one table per unit.
pub fn page(view: &ReportView) -> String {
    let title = if view.unit.is_empty() {
        "Violations per unit (R24)".to_owned()
    } else {
        format!("Violations of {} (R24)", view.unit)
    };
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n\
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse;margin-bottom:1.5em}}\
td,th{{border:1px solid #999;padding:3px 6px;text-align:left}}.overdue{{color:#b00;font-weight:bold}}</style>\n\
</head><body>\n<h1>{t}</h1>\n<p>{n} violation(s); audit log entries scanned: {s}.</p>\n",
        t = escape(&title),
        n = view.violations.len(),
        s = view.audit_entries_scanned
    );
    if view.truncated {
        html.push_str(
            "<p><strong>More violations than shown: narrow the report to one unit.</strong></p>\n",
        );
    }
    let mut units: Vec<&str> = view.violations.iter().map(|v| v.unit.as_str()).collect();
    units.dedup();
    for unit in units {
        let shown = if unit.is_empty() { "(no unit)" } else { unit };
        html.push_str(&format!(
            "<h2>{}</h2>\n<table><tr><th>Requirement</th><th>Kind</th><th>ID</th><th>Device</th>\
<th>Description</th><th>State</th><th>Deadline</th><th>Note</th></tr>\n",
            escape(shown)
        ));
        for v in view.violations.iter().filter(|v| v.unit == unit) {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&v.requirement),
                escape(&v.kind),
                escape(&v.id),
                escape(&v.device_id),
                escape(&v.description),
                escape(&v.state),
                escape(&v.state),
                escape(&v.deadline),
                escape(&v.note)
            ));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::violations::ViolationView;

    #[test]
    fn text_from_the_node_is_escaped() {
        let view = ReportView {
            unit: String::new(),
            violations: vec![ViolationView {
                id: "missing-signage:54050200001320000001".into(),
                kind: "missing-signage".into(),
                requirement: "R8".into(),
                unit: "<script>alert(1)</script>".into(),
                device_id: "54050200001320000001".into(),
                description: "a \"sign\" & 'more'".into(),
                observed: None,
                state: "overdue".into(),
                deadline: "2027-01-15".into(),
                deadline_set_by: String::new(),
                note: String::new(),
                closed_by: String::new(),
                closed: None,
            }],
            audit_entries_scanned: 3,
            truncated: true,
        };
        let html = page(&view);
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>"),
            "{html}"
        );
        assert!(
            html.contains("a &quot;sign&quot; &amp; &#39;more&#39;"),
            "{html}"
        );
        assert!(html.contains("class=\"overdue\""), "{html}");
        assert!(html.contains("More violations than shown"), "{html}");
    }
}

//! The frame every page shares (head, navigation, who is logged in) and HTML escaping.
//! Pages are strings built on the server; every value that came from a configuration,
//! the catalog or a repository goes through [`esc`] on its way in.

use std::fmt::Write;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::session::Viewer;

/// `s` with the five characters that matter in HTML text and attributes escaped.
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

/// `s` as one component of a URL path or query (unreserved characters as they are).
pub fn url(s: &str) -> String {
    url_bytes(s.as_bytes())
}

/// Raw bytes (a file name need not be UTF-8) as one URL component.
pub fn url_bytes(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/repositories", "Repositories"),
    ("/snapshots", "Snapshots"),
    ("/incidents", "Incidents"),
    ("/drills", "Drills"),
    ("/audit", "Audit log"),
];

/// A whole page: `title`, the navigation with `section` marked, and `body`.
/// `live` turns on the script that reloads the page when a job starts or ends.
pub struct Page {
    pub title: String,
    pub section: &'static str,
    pub body: String,
    pub live: bool,
}

impl Page {
    pub fn new(title: impl Into<String>, section: &'static str) -> Page {
        Page {
            title: title.into(),
            section,
            body: String::new(),
            live: false,
        }
    }

    /// Appends raw HTML (already escaped by the caller).
    pub fn push(&mut self, html: &str) {
        self.body.push_str(html);
    }

    pub fn render(self, viewer: &Viewer) -> Response {
        let mut nav = String::new();
        for (href, name) in NAV {
            let current = if *href == self.section {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(nav, "<a href=\"{href}\"{current}>{name}</a>");
        }
        let who = if viewer.logged_in {
            format!(
                "<form method=\"post\" action=\"/logout\" class=\"inline\">{}\
                 <button type=\"submit\">Log out</button></form>",
                viewer.csrf_field()
            )
        } else {
            "<a href=\"/login\">Log in</a>".to_string()
        };
        let live = if self.live {
            "<script src=\"/assets/live.js\" defer></script>"
        } else {
            ""
        };
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · bunker</title>\
             <link rel=\"icon\" href=\"data:,\">\
             <link rel=\"stylesheet\" href=\"/assets/style.css\">{live}</head>\
             <body><header><a class=\"brand\" href=\"/\">bunker</a><nav>{nav}</nav>\
             <span class=\"who\">{who}</span></header><main><h1>{title}</h1>{body}</main>\
             </body></html>\n",
            title = esc(&self.title),
            body = self.body,
        );
        html_response(StatusCode::OK, html)
    }
}

/// An HTML body with the headers every page carries: no caching of pages that show
/// state, no framing by other sites, no script but the daemon's own.
pub fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                 script-src 'self'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        html,
    )
        .into_response()
}

/// A page that says what went wrong, with a status.
pub fn problem(status: StatusCode, viewer: &Viewer, message: &str) -> Response {
    let mut p = Page::new(status.canonical_reason().unwrap_or("Error"), "");
    p.push(&format!("<p class=\"error\">{}</p>", esc(message)));
    let mut r = p.render(viewer);
    *r.status_mut() = status;
    r
}

/// A table: the header cells, then rows of cells that are already HTML.
pub fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    let mut any = false;
    for row in rows {
        any = true;
        t.push_str("<tr>");
        for cell in row {
            let _ = write!(t, "<td>{cell}</td>");
        }
        t.push_str("</tr>");
    }
    if !any {
        let _ = write!(
            t,
            "<tr><td colspan=\"{}\" class=\"none\">none</td></tr>",
            head.len()
        );
    }
    t.push_str("</tbody></table>");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn url_keeps_unreserved_and_encodes_the_rest() {
        assert_eq!(url("db-1_x.y~"), "db-1_x.y~");
        assert_eq!(url("a b/é?"), "a%20b%2F%C3%A9%3F");
    }
}

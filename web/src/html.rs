//! Server-side HTML: one escaping helper used for every value, URL building, and the page
//! frame. Log content is attacker-controlled, so nothing reaches a page without [`escape`].

use std::fmt::Write as _;

use tokentrail_index::Seed;

/// Escapes text for HTML element content and quoted attribute values: `& < > " '` become
/// character references, and control characters and bidirectional overrides are shown as
/// `\u{..}` (a log line may carry terminal escapes or NULs; showing them is more useful to an
/// investigator than dropping them). The same function writes the incident report's HTML.
pub use tokentrail_index::analytics::incident::escape;

/// Like [`escape`], for one-line cells: newlines shown as `\n` too.
pub fn escape_line(text: &str) -> String {
    escape(&text.replace('\n', "\\n").replace('\t', "\\t"))
}

/// Percent-encodes a query-string component (everything but RFC 3986 unreserved characters).
pub fn url_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A link to the trace of `value` seen as `kind` (`sub`, `jti`, `job`, `ip`, `host`, `path`,
/// `user`, `client`), escaped for HTML. Empty values give an empty string.
pub fn trace_link(kind: &str, value: &str) -> String {
    trace_link_labelled(kind, value, value)
}

/// [`trace_link`] with its own label.
pub fn trace_link_labelled(kind: &str, value: &str, label: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    format!(
        "<a class=\"tl tl-{kind}\" href=\"/trace?{kind}={}\" title=\"trace {kind} {}\">{}</a>",
        url_component(value),
        escape(value),
        escape_line(label)
    )
}

/// The trace parameters of a seed, as `(name, value)` pairs (`sub` with its `iss`).
pub fn seed_params(seed: &Seed) -> Vec<(&'static str, &str)> {
    match seed {
        Seed::Identity { sub, iss } => {
            let mut pairs = vec![("sub", sub.as_str())];
            if let Some(iss) = iss.as_deref().filter(|iss| !iss.is_empty()) {
                pairs.push(("iss", iss));
            }
            pairs
        }
        Seed::Jti { jti } => vec![("jti", jti)],
        Seed::Job { job } => vec![("job", job)],
        Seed::Ip { ip } => vec![("ip", ip)],
        Seed::Host { host } => vec![("host", host)],
        Seed::Path { path } => vec![("path", path)],
        Seed::User { user } => vec![("user", user)],
        Seed::Client { client } => vec![("client", client)],
    }
}

/// The query string of a seed's trace (percent-encoded, not yet HTML-escaped).
pub fn seed_query(seed: &Seed) -> String {
    seed_params(seed)
        .into_iter()
        .map(|(name, value)| format!("{name}={}", url_component(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A link to a seed's trace page with its own label, escaped for HTML.
pub fn seed_link(seed: &Seed, label: &str) -> String {
    format!(
        "<a class=\"tl\" href=\"/trace?{}\">{}</a>",
        escape(&seed_query(seed)),
        escape_line(label)
    )
}

/// The navigation context of a page.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The signed-in user's name, role and CSRF token (absent on the login page).
    pub user: Option<(&'a str, &'a str, &'a str)>,
    /// What the search box shows.
    pub search: &'a str,
    /// Watchlist alerts the user has not acknowledged (a banner when non-zero).
    pub alerts: usize,
}

/// A whole page around `body`. Scripts are external files (the CSP forbids inline script).
pub fn page(frame: &Frame<'_>, body: &str, scripts: &[&str]) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(out, "<title>{} — tokentrail</title>", escape(frame.title));
    out.push_str("<link rel=\"stylesheet\" href=\"/assets/style.css\">");
    for script in scripts {
        let _ = write!(
            out,
            "<script src=\"/assets/{}\" defer></script>",
            escape(script)
        );
    }
    out.push_str("</head><body>");
    out.push_str("<header class=\"top\"><a class=\"brand\" href=\"/\">tokentrail</a>");
    if let Some((name, role, csrf)) = frame.user {
        let _ = write!(
            out,
            "<form class=\"searchbox\" action=\"/search\" method=\"get\" role=\"search\">\
             <input type=\"search\" name=\"q\" id=\"q\" value=\"{}\" \
             placeholder=\"sub, jti, job id, address, host, path, user or client id\" \
             aria-label=\"search\" autocomplete=\"off\"><button type=\"submit\">Search</button></form>",
            escape(frame.search)
        );
        out.push_str(
            "<nav><a href=\"/report\" id=\"nav-report\">Report</a><a href=\"/watchlist\">Watchlist</a>\
             <a href=\"/alerts\">Alerts</a><a href=\"/stats\">Stats</a><a href=\"/keys\">API keys</a>",
        );
        if role == "admin" {
            out.push_str("<a href=\"/admin\">Admin</a>");
        }
        let _ = write!(
            out,
            "<span class=\"who\">{} ({})</span><form action=\"/logout\" method=\"post\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Log out</button></form></nav>",
            escape(name),
            escape(role),
            escape(csrf)
        );
    }
    out.push_str("</header>");
    if frame.user.is_some() && frame.alerts > 0 {
        let _ = write!(
            out,
            "<div class=\"alert-banner\" id=\"alert-banner\" role=\"alert\" data-unseen=\"{0}\">\
             <a href=\"/alerts\">{0} new watchlist alert{1}</a></div>",
            frame.alerts,
            if frame.alerts == 1 { "" } else { "s" }
        );
    }
    out.push_str("<main>");
    out.push_str(body);
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape("a\"b'c&"), "a&quot;b&#39;c&amp;");
        assert_eq!(escape("x\u{1b}[31m\u{0}"), "x\\u{1b}[31m\\u{0}");
        assert_eq!(escape("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(escape_line("a\nb"), "a\\nb");
    }

    #[test]
    fn encodes_url_components() {
        assert_eq!(url_component("/a b/<x>&y=1"), "%2Fa%20b%2F%3Cx%3E%26y%3D1");
        assert_eq!(url_component("ce01#123.0"), "ce01%23123.0");
    }

    #[test]
    fn trace_links_escape_value_and_label() {
        let link = trace_link("path", "/x\"><script>");
        assert!(link.contains("href=\"/trace?path=%2Fx%22%3E%3Cscript%3E\""));
        assert!(!link.contains("<script>"));
        assert_eq!(trace_link("jti", ""), "");
    }

    #[test]
    fn seed_links_carry_the_issuer_and_escape() {
        let seed = Seed::Identity {
            sub: "a\"<b>".into(),
            iss: Some("https://iss.example/".into()),
        };
        let link = seed_link(&seed, "<i>x</i>");
        assert!(
            link.contains("href=\"/trace?sub=a%22%3Cb%3E&amp;iss=https%3A%2F%2Fiss.example%2F\"")
        );
        assert!(link.contains("&lt;i&gt;x&lt;/i&gt;"));
        assert!(!link.contains("<i>"));
    }
}

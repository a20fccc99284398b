//! The security analytics of the UI and API: the token policy report (`/report`,
//! `/api/v1/report`, the same JSON as `tokentrail report --format json`) and incident reports
//! of a trace (`/api/v1/incident-report`, the self-contained HTML file or its JSON).

use std::fmt::Write as _;

use axum::extract::{Query as QueryParams, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tokentrail_index::analytics::{incident_report, policy_report, IncidentReport, PolicyReport};
use tokentrail_index::Seed;
use tokentrail_parsers::Timestamp;

use crate::api::{parse_time, TraceParams};
use crate::auth::{api_error, User};
use crate::html::{escape, escape_line, seed_link, url_component};
use crate::pages::{error_page, frame, time_text};
use crate::AppState;

/// Report parameters: the time range (either end open).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReportParams {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl ReportParams {
    /// The range, checked: each end a time, `from` before `to`.
    pub fn range(&self) -> Result<(Option<Timestamp>, Option<Timestamp>), String> {
        let from = parse_time("from", &self.from)?;
        let to = parse_time("to", &self.to)?;
        if let (Some(from), Some(to)) = (from, to) {
            if from >= to {
                return Err(format!(
                    "from ({}) must be before to ({})",
                    from.to_rfc3339(),
                    to.to_rfc3339()
                ));
            }
        }
        Ok((from, to))
    }
}

async fn run_report(
    state: &AppState,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<PolicyReport, String> {
    let config = state.config.report.clone();
    state
        .blocking("report", move |store| {
            policy_report(store, from, to, &config).map_err(|error| error.to_string())
        })
        .await
}

/// `GET /api/v1/report?from=&to=`: the policy report JSON.
pub async fn api_report(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<ReportParams>,
) -> Response {
    state.audit.record(
        &user.name,
        "/api/v1/report",
        json!({"from": params.from, "to": params.to}),
    );
    let (from, to) = match params.range() {
        Ok(range) => range,
        Err(error) => return api_error(StatusCode::BAD_REQUEST, &error),
    };
    match run_report(&state, from, to).await {
        Ok(report) => Json(report).into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// `GET /api/v1/incident-report?<trace seed>&format=html|json&title=`: the incident report of
/// a trace as a download — the self-contained HTML file (default) or its JSON.
pub async fn api_incident_report(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<TraceParams>,
) -> Response {
    let mut audit = params.audit_value();
    audit["format"] = json!(params.format);
    state
        .audit
        .record(&user.name, "/api/v1/incident-report", audit);
    let format = params.format.as_deref().map(str::trim).unwrap_or("html");
    if format != "html" && format != "json" {
        return api_error(
            StatusCode::BAD_REQUEST,
            &format!("format {format:?} is not html or json"),
        );
    }
    let request = match params.request() {
        Ok(request) => request,
        Err(error) => return api_error(StatusCode::BAD_REQUEST, &error),
    };
    let title = params
        .title
        .as_deref()
        .map(str::trim)
        .filter(|title| !title.is_empty())
        .map(|title| {
            title
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect()
        })
        .unwrap_or_else(|| {
            let (kind, value) = params.seed_pair().unwrap_or(("", ""));
            format!("Incident report: {kind} {value}")
        });
    let report: IncidentReport = match state
        .blocking("incident-report", move |store| {
            incident_report(store, &request, &title).map_err(|error| error.to_string())
        })
        .await
    {
        Ok(report) => report,
        Err(error) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    if format == "json" {
        let mut response = Json(report).into_response();
        response.headers_mut().insert(
            CONTENT_DISPOSITION,
            "attachment; filename=\"incident-report.json\""
                .parse()
                .expect("static"),
        );
        return response;
    }
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"incident-report.html\"",
            ),
        ],
        report.to_html(),
    )
        .into_response()
}

fn seconds_text(seconds: Option<i64>) -> String {
    match seconds {
        None => String::new(),
        Some(seconds) if seconds.abs() >= 3600 => format!("{:.1} h", seconds as f64 / 3600.0),
        Some(seconds) if seconds.abs() >= 60 => format!("{:.1} min", seconds as f64 / 60.0),
        Some(seconds) => format!("{seconds} s"),
    }
}

/// A histogram row: label, count and a bar (`<meter>`: the CSP forbids inline styles).
fn bar_row(out: &mut String, label: &str, count: u64, most: u64) {
    let _ = write!(
        out,
        "<tr><td>{}</td><td class=\"num\">{count}</td><td><meter min=\"0\" max=\"{}\" value=\"{count}\"></meter></td></tr>",
        escape_line(label),
        most.max(1)
    );
}

fn evidence_links(evidence: &[tokentrail_index::analytics::anomalies::EvidenceRef]) -> String {
    evidence
        .iter()
        .take(5)
        .map(|reference| {
            format!(
                "<a href=\"/event/{}\" title=\"{}\">{}:{}</a>",
                url_component(&reference.id),
                escape(&reference.origin.file),
                escape_line(reference.origin.file.rsplit('/').next().unwrap_or_default()),
                reference.origin.line
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The HTML of a report.
fn report_body(report: &PolicyReport, params: &ReportParams) -> String {
    let mut body = String::with_capacity(16 * 1024 + report.flagged.len() * 600);
    let range_query = {
        let mut parts = Vec::new();
        for (name, value) in [("from", &params.from), ("to", &params.to)] {
            if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                parts.push(format!("{name}={}", url_component(value)));
            }
        }
        parts.join("&")
    };
    let tokens = &report.tokens;
    let _ = write!(
        body,
        "<p class=\"summary\" id=\"report-summary\" data-flagged=\"{}\" data-anomalies=\"{}\">{} tokens ({} access, {} refresh; \
         {} without logged claims; {} seen only at services) · <b>{} flagged</b> · <b>{} anomalies</b>{} · \
         <a id=\"report-json\" href=\"/api/v1/report?{}\">as JSON</a></p>",
        report.flagged.len(),
        report.anomalies.len(),
        tokens.total,
        tokens.access,
        tokens.refresh,
        tokens.claims_not_logged,
        tokens.seen_only_at_services,
        report.flagged.len(),
        report.anomalies.len(),
        if report.truncated {
            format!(" (lists cut at {} rows)", report.config.max_listed)
        } else {
            String::new()
        },
        escape(&range_query)
    );

    body.push_str("<section><h2>Flagged tokens</h2><p class=\"muted\">Tokens that break the WLCG profile (access token longer than 6 h, <code>aud</code> any or none, write access at the VO root) or that an anomaly names.</p>\
                   <table class=\"small\" id=\"flagged\"><thead><tr><th>jti</th><th>sub</th><th>client</th><th>issuer</th><th>issued (UTC)</th><th>lifetime</th><th>aud</th><th>scopes</th><th>reasons</th></tr></thead><tbody>");
    for token in &report.flagged {
        let sub_link = if token.sub.is_empty() {
            String::new()
        } else {
            seed_link(
                &Seed::Identity {
                    sub: token.sub.clone(),
                    iss: (!token.iss.is_empty()).then(|| token.iss.clone()),
                },
                &token.sub,
            )
        };
        let _ = write!(
            body,
            "<tr data-jti=\"{}\"><td>{}</td><td>{sub_link}</td><td>{}</td><td>{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&token.jti),
            seed_link(&token.trace, &token.jti),
            crate::html::trace_link("client", &token.client_id),
            escape_line(&token.iss),
            escape(&time_text(token.issued)),
            escape(&seconds_text(token.lifetime_seconds)),
            escape_line(&token.aud.join(" ")),
            escape_line(&token.scopes.join(" ")),
            token
                .reasons
                .iter()
                .map(|reason| format!("<span class=\"flag\">{}</span>", escape_line(reason)))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    body.push_str("</tbody></table></section>");

    body.push_str("<section><h2>Anomalies</h2><table class=\"small\" id=\"anomalies\"><thead><tr><th>first seen (UTC)</th><th>rule</th><th>what</th><th>addresses</th><th>events</th><th>evidence</th><th>trace</th></tr></thead><tbody>");
    for anomaly in &report.anomalies {
        let _ = write!(
            body,
            "<tr data-kind=\"{}\"><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            anomaly.kind.as_str(),
            escape(&time_text(anomaly.first_seen)),
            anomaly.kind.as_str(),
            escape_line(&anomaly.summary),
            anomaly
                .addresses
                .iter()
                .map(|address| crate::html::trace_link("ip", address))
                .collect::<Vec<_>>()
                .join(" "),
            anomaly.events,
            evidence_links(&anomaly.evidence),
            seed_link(&anomaly.trace, "trace")
        );
    }
    body.push_str("</tbody></table></section>");

    body.push_str("<section><h2>Inventory by issuer and client</h2><table class=\"small\" id=\"inventory\"><thead><tr><th>issuer</th><th>client</th><th>access</th><th>refresh</th></tr></thead><tbody>");
    for row in &tokens.by_issuer_client {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape_line(&row.issuer),
            crate::html::trace_link("client", &row.client_id),
            row.access,
            row.refresh
        );
    }
    body.push_str("</tbody></table></section>");

    body.push_str("<section><h2>Access-token lifetimes</h2><table class=\"small histogram\" id=\"lifetimes\"><thead><tr><th>lifetime</th><th>tokens</th><th></th></tr></thead><tbody>");
    let most = report.lifetimes.iter().map(|b| b.count).max().unwrap_or(0);
    for bucket in &report.lifetimes {
        bar_row(&mut body, &bucket.label, bucket.count, most);
    }
    body.push_str("</tbody></table></section>");

    let audiences = &report.audiences;
    let scopes = &report.scopes;
    let _ = write!(
        body,
        "<section><h2>Audiences and scopes</h2><table class=\"small\" id=\"findings\"><tbody>\
         <tr><th><code>aud</code> = any (flagged)</th><td class=\"num\">{}</td></tr>\
         <tr><th>no <code>aud</code> (flagged)</th><td class=\"num\">{}</td></tr>\
         <tr><th>specific <code>aud</code></th><td class=\"num\">{}</td></tr>\
         <tr><th>write at the VO root: <code>storage.modify:/</code>, <code>storage.create:/</code> (flagged)</th><td class=\"num\">{}</td></tr>\
         <tr><th>any <code>storage.*:/</code> scope</th><td class=\"num\">{}</td></tr>\
         <tr><th>… of which used only below a narrower directory</th><td class=\"num\">{}</td></tr>",
        audiences.any,
        audiences.none,
        audiences.specific,
        scopes.write_at_vo_root,
        scopes.storage_at_vo_root,
        scopes.vo_root_used_narrowly
    );
    for missing in &report.missing_jti {
        let _ = write!(
            body,
            "<tr><th>issuance without <code>jti</code> at {}</th><td class=\"num\">{}</td></tr>",
            escape_line(&missing.label),
            missing.count
        );
    }
    body.push_str("</tbody></table></section>");

    body.push_str("<section><h2>Use before expiry</h2><table class=\"small\" id=\"use-before-expiry\"><thead><tr><th>service</th><th>uses</th><th>min</th><th>mean</th><th>max</th><th>time left at use</th></tr></thead><tbody>");
    for lead in &report.use_before_expiry {
        let buckets = lead
            .buckets
            .iter()
            .filter(|bucket| bucket.count > 0)
            .map(|bucket| format!("{} {}", escape_line(&bucket.label), bucket.count))
            .collect::<Vec<_>>()
            .join(" · ");
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{buckets}</td></tr>",
            escape_line(&lead.service),
            lead.uses,
            escape(&seconds_text(lead.min_seconds)),
            escape(&seconds_text(lead.mean_seconds)),
            escape(&seconds_text(lead.max_seconds))
        );
    }
    body.push_str("</tbody></table></section>");

    body.push_str("<section><h2>Issuance: peaks and gaps</h2><table class=\"small\" id=\"issuance\"><thead><tr><th>issuer instance</th><th>iss</th><th>events</th><th>first</th><th>last</th><th>peak</th><th>outage-like gaps</th></tr></thead><tbody>");
    for issuer in &report.issuance {
        let gaps = issuer
            .gaps
            .iter()
            .map(|gap| {
                format!(
                    "<li>{} → {} ({})</li>",
                    escape(&time_text(Some(gap.from))),
                    escape(&time_text(Some(gap.to))),
                    escape(&seconds_text(Some(gap.seconds)))
                )
            })
            .collect::<String>();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td>{}/s at {}</td><td><ul class=\"gaps\">{gaps}</ul></td></tr>",
            escape_line(&issuer.issuer),
            escape_line(&issuer.iss.join(" ")),
            issuer.events,
            escape(&time_text(issuer.first)),
            escape(&time_text(issuer.last)),
            issuer.peak_per_second,
            escape(&time_text(issuer.peak_at))
        );
    }
    body.push_str("</tbody></table></section>");

    body.push_str("<section><h2>Refused requests by reason</h2><table class=\"small histogram\" id=\"refused\"><thead><tr><th>service: reason</th><th>requests</th><th></th></tr></thead><tbody>");
    let most = report.refused.iter().map(|r| r.count).max().unwrap_or(0);
    for refusal in &report.refused {
        bar_row(
            &mut body,
            &format!("{}: {}", refusal.service, refusal.reason),
            refusal.count,
            most,
        );
    }
    body.push_str("</tbody></table></section>");
    body
}

/// `GET /report?from=&to=`: the policy report page.
pub async fn report_page(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<ReportParams>,
) -> Response {
    state.audit.record(
        &user.name,
        "/report",
        json!({"from": params.from, "to": params.to}),
    );
    let (from, to) = match params.range() {
        Ok(range) => range,
        Err(error) => return error_page(&user, StatusCode::BAD_REQUEST, &error),
    };
    let mut body = format!(
        "<h1>Token policy report</h1><form class=\"filters\" method=\"get\" action=\"/report\" id=\"report-range\">\
         <label>from <input name=\"from\" value=\"{}\" placeholder=\"2025-03-10 00:00\"></label>\
         <label>to <input name=\"to\" value=\"{}\" placeholder=\"2025-03-11\"></label>\
         <button type=\"submit\">Apply</button> <span class=\"muted\">UTC; empty = everything stored</span></form>",
        escape(params.from.as_deref().unwrap_or("")),
        escape(params.to.as_deref().unwrap_or(""))
    );
    match run_report(&state, from, to).await {
        Ok(report) => body.push_str(&report_body(&report, &params)),
        Err(error) => return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
    Html(crate::html::page(&frame("report", &user, ""), &body, &[])).into_response()
}

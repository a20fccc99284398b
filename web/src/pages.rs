//! The HTML UI, built server-side: every value from a log goes through [`escape`] and every
//! jti, job, host, address and path links to its own trace.

use std::collections::HashSet;
use std::fmt::Write as _;

use axum::extract::{Path, Query as QueryParams, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;
use tokentrail_index::trace::Link;
use tokentrail_index::{Order, TraceAnswer};
use tokentrail_parsers::{Event, Timestamp};

use crate::api::{self, TraceParams};
use crate::auth::{self, cookie, safe_next, set_cookie, User, LOGIN_COOKIE, SESSION_COOKIE};
use crate::html::{
    escape, escape_line, page, seed_link, trace_link, trace_link_labelled, url_component, Frame,
};
use crate::AppState;

pub(crate) fn frame<'a>(title: &'a str, user: &'a User, search: &'a str) -> Frame<'a> {
    Frame {
        title,
        user: Some((&user.name, user.role.as_str(), user.csrf_token())),
        search,
        alerts: user.unseen_alerts,
    }
}

pub(crate) fn error_page(user: &User, status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p>",
        status.as_u16(),
        escape(message)
    );
    (status, Html(page(&frame("error", user, ""), &body, &[]))).into_response()
}

pub(crate) fn time_text(time: Option<Timestamp>) -> String {
    time.map(|t| {
        let text = t.to_rfc3339();
        text.replace('T', " ").trim_end_matches('Z').to_string()
    })
    .unwrap_or_default()
}

/// `token`, `job`, `file` or `other`: the page filter and the timeline's mark category.
pub fn category(action: &str) -> &'static str {
    let family = action.split('.').next().unwrap_or_default();
    match family {
        "token" | "auth" | "account" | "client" => "token",
        "job" => "job",
        "file" | "transfer" => "file",
        _ => "other",
    }
}

fn short(value: &str) -> String {
    if value.chars().count() > 13 {
        let head: String = value.chars().take(8).collect();
        format!("{head}…")
    } else {
        value.to_string()
    }
}

/// The evidence table.
fn events_table(events: &[(&Event, Option<&Link>)], incidents: &HashSet<&str>) -> String {
    let mut out = String::with_capacity(events.len() * 600 + 512);
    out.push_str(
        "<table class=\"events\" id=\"evidence\"><thead><tr><th>time (UTC)</th><th>action</th>\
         <th>source @ host</th><th>identity / token</th><th>job / worker node</th>\
         <th>client</th><th>path</th><th>link</th><th>origin</th><th>raw log line</th></tr></thead><tbody>",
    );
    for (event, link) in events {
        let category = category(&event.action);
        let incident = incidents.contains(event.id.as_str());
        let _ = write!(
            out,
            "<tr id=\"ev-{}\" data-category=\"{category}\" data-confidence=\"{}\"{}>",
            escape(&event.id),
            escape(link.map(|l| l.confidence.as_str()).unwrap_or("")),
            if incident { " class=\"incident\"" } else { "" }
        );
        let _ = write!(
            out,
            "<td class=\"nowrap\">{}</td>",
            escape(&time_text(event.time))
        );
        let _ = write!(
            out,
            "<td><span class=\"act act-{category}\">{}</span> <span class=\"outcome-{}\">{}</span>{}</td>",
            escape(&event.action),
            escape(&event.outcome),
            escape(&event.outcome),
            if event.status.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"status\">{}</span>", escape_line(&event.status))
            }
        );
        let _ = write!(
            out,
            "<td>{} @ {}</td>",
            escape(&event.source),
            trace_link("host", &event.host)
        );
        let mut identity = Vec::new();
        if !event.sub.is_empty() {
            identity.push(format!(
                "sub {}",
                trace_link_labelled("sub", &event.sub, &short(&event.sub))
            ));
        }
        if !event.username.is_empty() {
            identity.push(format!("user {}", trace_link("user", &event.username)));
        }
        if !event.jti.is_empty() {
            identity.push(format!(
                "jti {}",
                trace_link_labelled("jti", &event.jti, &short(&event.jti))
            ));
        }
        if !event.client_id.is_empty() {
            identity.push(format!("client {}", trace_link("client", &event.client_id)));
        }
        let _ = write!(out, "<td>{}</td>", identity.join("<br>"));
        let mut job = Vec::new();
        if !event.job_id.is_empty() {
            job.push(trace_link("job", &event.job_id));
        }
        if !event.batch_job_id.is_empty() && event.batch_job_id != event.job_id {
            job.push(trace_link("job", &event.batch_job_id));
        }
        if !event.worker_node.is_empty() {
            job.push(format!("on {}", trace_link("host", &event.worker_node)));
        }
        let _ = write!(out, "<td>{}</td>", job.join("<br>"));
        let mut client = Vec::new();
        if !event.client_ip.is_empty() {
            client.push(trace_link("ip", &event.client_ip));
        }
        if !event.client_host.is_empty() {
            client.push(trace_link("host", &event.client_host));
        }
        let _ = write!(out, "<td>{}</td>", client.join("<br>"));
        let bytes = event
            .bytes
            .map(|b| format!(" <span class=\"bytes\">{b} B</span>"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<td class=\"path\">{}{bytes}</td>",
            trace_link("path", &event.path)
        );
        let _ = write!(
            out,
            "<td>{}</td>",
            link.map(|l| format!(
                "{} <span class=\"conf-{}\">{}</span>",
                escape(&l.rule),
                escape(&l.confidence),
                escape(&l.confidence)
            ))
            .unwrap_or_default()
        );
        let _ = write!(
            out,
            "<td class=\"origin\"><a href=\"/event/{}\" title=\"{}\">{}:{}</a></td>",
            url_component(&event.id),
            escape(&event.origin.file),
            escape_line(event.origin.file.rsplit('/').next().unwrap_or_default()),
            event.origin.line
        );
        let _ = write!(
            out,
            "<td><code class=\"raw\">{}</code></td></tr>",
            escape(&event.raw)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// `GET /`.
pub async fn home(State(state): State<AppState>, user: User) -> Response {
    let mut body = String::from(
        "<h1>What did this token touch?</h1>\
         <p>Type a <b>sub</b> or <b>jti</b> (UUID), a <b>job id</b> (<code>ce#1234.0</code>), an \
         <b>address</b>, a <b>host</b> or worker node, a <b>path</b>, a <b>user name</b> or a \
         <b>client id</b> into the search box — no field syntax needed. Field queries work too: \
         <code>jti:… action:file.delete</code>, <code>path:/store/user/*</code>, <code>-outcome:ok</code>.</p>\
         <form class=\"bigsearch\" action=\"/search\" method=\"get\"><input type=\"search\" name=\"q\" \
         autofocus placeholder=\"sub, jti, job id, address, host, path, user or client id\" aria-label=\"search\">\
         <button type=\"submit\">Search</button></form>",
    );
    let entries = state.watchlist.list().unwrap_or_default();
    if !entries.is_empty() {
        body.push_str("<h2>Watchlist</h2><ul class=\"watch\">");
        for entry in entries {
            let entry = entry.entry;
            let _ = write!(
                body,
                "<li>{} {} <span class=\"note\">{}</span></li>",
                entry.kind.as_str(),
                seed_link(&entry.seed(), &entry.value),
                escape_line(&entry.reason)
            );
        }
        body.push_str("</ul>");
    }
    Html(page(&frame("search", &user, ""), &body, &[])).into_response()
}

/// Login form parameters.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
    pub failed: Option<String>,
}

/// `GET /login`: the form, with a fresh CSRF pair (cookie + hidden field).
pub async fn login_form(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<LoginQuery>,
) -> Response {
    let token = crate::accounts::random_secret();
    let next = safe_next(params.next.as_deref());
    let mut body = String::from("<section class=\"login\"><h1>Sign in</h1>");
    if params.failed.is_some() {
        body.push_str("<p class=\"error\" id=\"login-error\">Wrong name or password.</p>");
    }
    if state.accounts.is_empty() {
        body.push_str(
            "<p class=\"error\">No account exists yet. Create one on the server with \
             <code>tokentrail user add NAME --role admin</code>.</p>",
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Name <input name=\"username\" id=\"username\" autocomplete=\"username\" required autofocus></label>\
         <label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\" id=\"login\">Sign in</button></form></section>",
        escape(&token),
        escape(&next)
    );
    let frame = Frame {
        title: "sign in",
        user: None,
        search: "",
        alerts: 0,
    };
    let mut response = Html(page(&frame, &body, &[])).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, state.config.secure_cookies, Some(600)),
    );
    response
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub csrf: String,
    pub next: Option<String>,
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let pair_ok = !expected.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            form.csrf.as_bytes(),
        ));
    if !pair_ok {
        return auth::error_response(
            StatusCode::FORBIDDEN,
            "the sign-in form expired or came from elsewhere: reload /login and try again",
        );
    }
    let name = form.username.trim().to_string();
    let checker = state.clone();
    let password = form.password;
    let checked_name = name.clone();
    let principal = tokio::task::spawn_blocking(move || {
        checker.accounts.verify_login(&checked_name, &password)
    })
    .await
    .ok()
    .flatten();
    let next = safe_next(form.next.as_deref());
    let Some(principal) = principal else {
        state.metrics.login("fail");
        state
            .audit
            .record(&name, "/login", json!({"outcome": "fail"}));
        tracing::info!(user = %escape_line(&name), "failed sign-in");
        let location = format!("/login?failed=1&next={}", url_component(&next));
        return Redirect::to(&location).into_response();
    };
    state.metrics.login("ok");
    state
        .audit
        .record(&principal.name, "/login", json!({"outcome": "ok"}));
    let session = state.sessions.create(&principal.name);
    let mut response = Redirect::to(&next).into_response();
    let secure = state.config.secure_cookies;
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, &session, secure, None),
    );
    headers.append(SET_COOKIE, set_cookie(LOGIN_COOKIE, "", secure, Some(0)));
    response
}

/// A form that carries only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(response) = user.check_csrf(Some(&form.csrf)) {
        return response.into_response();
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        state.sessions.remove(id);
    }
    state.audit.record(&user.name, "/logout", json!({}));
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", state.config.secure_cookies, Some(0)),
    );
    response
}

/// `GET /search?q=…`.
pub async fn search(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<api::SearchParams>,
) -> Response {
    let shown_query = crate::recognise::redacted(&params.q);
    state
        .audit
        .record(&user.name, "/search", json!({"q": params.q}));
    let mut body = String::new();
    let (query, recognised) = match api::search_query(&params.q) {
        Ok(found) => found,
        Err(error) => {
            let _ = write!(body, "<p class=\"error\">{}</p>", escape(&error));
            return Html(page(&frame("search", &user, &shown_query), &body, &[])).into_response();
        }
    };
    let _ = write!(
        body,
        "<h1>Search: <span class=\"q\">{}</span></h1>",
        escape_line(&shown_query)
    );
    if let Some(recognised) = &recognised {
        let _ = write!(
            body,
            "<div class=\"recognised\"><p>Recognised as <b>{}</b>.</p>",
            escape(recognised.label)
        );
        if !recognised.candidates.is_empty() {
            body.push_str("<ul class=\"candidates\">");
            for candidate in &recognised.candidates {
                let _ = write!(
                    body,
                    "<li><a class=\"button trace-candidate\" data-kind=\"{}\" href=\"/trace?{}={}\">Trace {} {}</a></li>",
                    candidate.kind,
                    candidate.kind,
                    url_component(&candidate.value),
                    candidate.kind,
                    escape_line(&candidate.value)
                );
            }
            body.push_str("</ul>");
        }
        body.push_str("</div>");
    }
    let limit = params.limit.unwrap_or(200).min(api::MAX_SEARCH_LIMIT);
    let (from, to) = match (
        api::parse_time("from", &params.from),
        api::parse_time("to", &params.to),
    ) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(error), _) | (_, Err(error)) => {
            return error_page(&user, StatusCode::BAD_REQUEST, &error)
        }
    };
    let query = query.within(from, to);
    let hits = match state
        .blocking("search", move |store| {
            store
                .search(&query, limit, Order::NewestFirst)
                .map_err(|error| error.to_string())
        })
        .await
    {
        Ok(hits) => hits,
        Err(error) => return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    let _ = write!(
        body,
        "<p class=\"count\" id=\"hit-count\" data-total=\"{}\">{} of {} matching events (newest first)</p>",
        hits.total,
        hits.events.len(),
        hits.total
    );
    let rows: Vec<(&Event, Option<&Link>)> =
        hits.events.iter().map(|event| (event, None)).collect();
    body.push_str(&events_table(&rows, &HashSet::new()));
    Html(page(&frame("search", &user, &shown_query), &body, &[])).into_response()
}

fn keeps(params: &TraceParams, event: &Event, link: &Link) -> bool {
    let show = params.show.as_deref().unwrap_or("all");
    let confidence = params.confidence.as_deref().unwrap_or("any");
    (show == "all" || show.is_empty() || category(&event.action) == show)
        && (confidence == "any" || confidence.is_empty() || link.confidence == confidence)
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` escaped so that no
/// log content can close the element.
fn json_for_script(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn select(name: &str, current: &str, options: &[(&str, &str)]) -> String {
    let mut out = format!("<select name=\"{name}\" id=\"filter-{name}\">");
    for (value, label) in options {
        let _ = write!(
            out,
            "<option value=\"{value}\"{}>{label}</option>",
            if *value == current { " selected" } else { "" }
        );
    }
    out.push_str("</select>");
    out
}

/// `GET /trace?jti=…`: the trace page.
pub async fn trace(
    State(state): State<AppState>,
    user: User,
    QueryParams(params): QueryParams<TraceParams>,
) -> Response {
    state
        .audit
        .record(&user.name, "/trace", params.audit_value());
    let request = match params.request() {
        Ok(request) => request,
        Err(error) => return error_page(&user, StatusCode::BAD_REQUEST, &error),
    };
    let answer: TraceAnswer = match api::run_trace(&state, request).await {
        Ok(answer) => answer,
        Err(error) => return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    let (kind, value) = params.seed_pair().unwrap_or(("", ""));
    let incidents = api::run_incidents(&state, &answer).await;
    let incident_ids: HashSet<&str> = incidents.iter().map(|i| i.event_id.as_str()).collect();
    let shown: Vec<(&Event, Option<&Link>)> = answer
        .events
        .iter()
        .filter(|linked| keeps(&params, &linked.event, &linked.link))
        .map(|linked| (&*linked.event, Some(&linked.link)))
        .collect();
    let seed_query = params.seed_query();
    let mut body = String::with_capacity(answer.events.len() * 700 + 8192);
    let _ = write!(
        body,
        "<h1>Trace {} <span class=\"q\" id=\"seed\">{}</span></h1>",
        escape(kind),
        escape_line(value)
    );
    let _ = write!(
        body,
        "<p class=\"summary\" id=\"summary\" data-events=\"{}\" data-shown=\"{}\">{} events{} · {} identities · {} tokens · {} jobs · <span class=\"{}\">{} incidents</span></p>",
        answer.events.len(),
        shown.len(),
        answer.events.len(),
        if answer.truncated { " (truncated: narrow the time window)" } else { "" },
        answer.identities.len(),
        answer.tokens.len(),
        answer.jobs.len(),
        if incidents.is_empty() { "" } else { "incident-count" },
        incidents.len()
    );
    // Filters and exports.
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/trace\">"
    );
    if let Some((kind, value)) = params.seed_pair() {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"{kind}\" value=\"{}\">",
            escape(value)
        );
    }
    if let Some(iss) = params.iss.as_deref().filter(|iss| !iss.is_empty()) {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"iss\" value=\"{}\">",
            escape(iss)
        );
    }
    let _ = write!(
        body,
        "<label>from <input name=\"from\" value=\"{}\" placeholder=\"2025-03-10 14:00\"></label>\
         <label>to <input name=\"to\" value=\"{}\" placeholder=\"2025-03-11\"></label>\
         <label>show {}</label><label>links {}</label><button type=\"submit\">Apply</button>\
         <span class=\"exports\">Export: <a id=\"export-json\" href=\"/api/v1/trace?{seed_query}&amp;download=true\" download=\"trace.json\">JSON</a> \
         <a id=\"export-csv\" href=\"/api/v1/trace.csv?{seed_query}\" download=\"trace.csv\">CSV</a> \
         <a class=\"button\" id=\"incident-report\" href=\"/api/v1/incident-report?{seed_query}\" download=\"incident-report.html\">Incident report (HTML)</a> \
         <a id=\"incident-report-json\" href=\"/api/v1/incident-report?{seed_query}&amp;format=json\" download=\"incident-report.json\">(JSON)</a></span></form>",
        escape(params.from.as_deref().unwrap_or("")),
        escape(params.to.as_deref().unwrap_or("")),
        select(
            "show",
            params.show.as_deref().unwrap_or("all"),
            &[("all", "all events"), ("token", "tokens and accounts"), ("job", "jobs"), ("file", "files and transfers"), ("other", "other")]
        ),
        select(
            "confidence",
            params.confidence.as_deref().unwrap_or("any"),
            &[("any", "certain and probable"), ("certain", "certain only"), ("probable", "probable only")]
        ),
        seed_query = escape(&seed_query)
    );
    if !incidents.is_empty() {
        body.push_str("<section class=\"incidents\"><h2>Incidents</h2><ul id=\"incidents\">");
        for incident in incidents.iter().take(100) {
            let _ = write!(
                body,
                "<li data-kind=\"{}\"><b>{}</b> <a href=\"#ev-{}\">{}</a></li>",
                incident.kind,
                incident.kind,
                escape(&incident.event_id),
                escape_line(&incident.detail)
            );
        }
        if incidents.len() > 100 {
            let _ = write!(
                body,
                "<li>… and {} more (highlighted in the evidence table)</li>",
                incidents.len() - 100
            );
        }
        body.push_str("</ul></section>");
    }
    body.push_str(
        "<section><h2>Timeline</h2><div id=\"timeline\" class=\"plot\"><p class=\"muted\">drawing…</p></div>\
         <p class=\"legend\"><span class=\"lg lg-token\">token / account</span> <span class=\"lg lg-job\">job event</span> \
         <span class=\"lg lg-jobbar\">job run (bar per worker node)</span> <span class=\"lg lg-file\">file operation / transfer</span> \
         <span class=\"lg lg-other\">other</span> <span class=\"lg lg-incident\">incident</span></p></section>\
         <section><h2>Links</h2><div id=\"graph\" class=\"plot\"></div></section>",
    );
    // Identities, tokens, jobs.
    if !answer.identities.is_empty() {
        body.push_str("<section><h2>Identities</h2><table class=\"small\"><tr><th>sub</th><th>iss</th><th>user names</th></tr>");
        for identity in &answer.identities {
            let users: Vec<String> = identity
                .usernames
                .iter()
                .map(|name| trace_link("user", name))
                .collect();
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                trace_link("sub", &identity.sub),
                escape_line(&identity.iss),
                users.join(", ")
            );
        }
        body.push_str("</table></section>");
    }
    if !answer.tokens.is_empty() {
        body.push_str("<section><h2>Tokens</h2><table class=\"small\" id=\"tokens\"><tr><th>jti</th><th>sub</th><th>client</th><th>issued</th><th>expires</th><th>grant</th><th>parent</th><th>scopes</th><th>aud</th></tr>");
        for token in &answer.tokens {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                trace_link("jti", &token.jti),
                trace_link_labelled("sub", &token.sub, &short(&token.sub)),
                trace_link("client", &token.client_id),
                escape(&time_text(token.iat)),
                escape(&time_text(token.exp)),
                escape(&token.grant_type),
                trace_link("jti", &token.parent_jti),
                escape_line(&token.scopes.join(" ")),
                escape_line(&token.aud.join(" "))
            );
        }
        body.push_str("</table></section>");
    }
    if !answer.jobs.is_empty() {
        body.push_str("<section><h2>Jobs</h2><table class=\"small\" id=\"jobs\"><tr><th>job</th><th>batch id</th><th>CE</th><th>worker node</th><th>submitted</th><th>started</th><th>ended</th><th>jti</th></tr>");
        for job in &answer.jobs {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                trace_link("job", &job.job_id),
                trace_link("job", &job.batch_job_id),
                trace_link("host", &job.ce),
                trace_link("host", &job.worker_node),
                escape(&time_text(job.submitted)),
                escape(&time_text(job.started)),
                escape(&time_text(job.ended)),
                trace_link_labelled("jti", &job.jti, &short(&job.jti))
            );
        }
        body.push_str("</table></section>");
    }
    let _ = write!(body, "<section><h2>Evidence ({} events)</h2>", shown.len());
    body.push_str(&events_table(&shown, &incident_ids));
    body.push_str("</section>");
    // The answer for the timeline and graph script (data only; the CSP forbids inline script).
    let mut data = serde_json::to_value(&answer).unwrap_or_default();
    data["incidents"] = serde_json::to_value(&incidents).unwrap_or_default();
    data["filters"] = json!({
        "show": params.show.clone().unwrap_or_else(|| "all".into()),
        "confidence": params.confidence.clone().unwrap_or_else(|| "any".into()),
    });
    let _ = write!(
        body,
        "<script type=\"application/json\" id=\"trace-data\">{}</script>",
        json_for_script(&data)
    );
    let title = format!("trace {kind} {value}");
    Html(page(&frame(&title, &user, value), &body, &["trace.js"])).into_response()
}

/// `GET /event/{id}`: one event with every field, its raw line and origin.
pub async fn event(State(state): State<AppState>, user: User, Path(id): Path<String>) -> Response {
    state.audit.record(&user.name, "/event", json!({"id": id}));
    let event = match api::load_event(&state, id).await {
        Ok(Some(event)) => event,
        Ok(None) => return error_page(&user, StatusCode::NOT_FOUND, "no such event"),
        Err(error) => return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    let mut body = format!(
        "<h1>Event <span class=\"q\">{}</span></h1><h2>Raw log line</h2><pre class=\"raw\" id=\"raw\">{}</pre>\
         <p class=\"origin\">from <code id=\"origin\">{}</code> line {} (byte {})</p><table class=\"fields\">",
        escape(&event.id),
        escape(&event.raw),
        escape(&event.origin.file),
        event.origin.line,
        event.origin.offset
    );
    let value = serde_json::to_value(&event).unwrap_or_default();
    let linkable = |field: &str| match field {
        "sub" => Some("sub"),
        "jti" | "parent_jti" => Some("jti"),
        "job_id" | "batch_job_id" => Some("job"),
        "host" | "worker_node" | "client_host" => Some("host"),
        "client_ip" => Some("ip"),
        "path" => Some("path"),
        "username" => Some("user"),
        "client_id" => Some("client"),
        _ => None,
    };
    if let Some(object) = value.as_object() {
        for (field, field_value) in object {
            if field == "raw" || field == "origin" {
                continue;
            }
            let text = match field_value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|item| item.as_str().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            if text.is_empty() {
                continue;
            }
            let cell = match linkable(field) {
                Some(kind) => trace_link(kind, &text),
                None => escape_line(&text),
            };
            let _ = write!(body, "<tr><th>{}</th><td>{cell}</td></tr>", escape(field));
        }
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        "<p><a href=\"/api/v1/events/{}\">as JSON</a></p>",
        url_component(&event.id)
    );
    Html(page(&frame("event", &user, ""), &body, &[])).into_response()
}

/// `GET /stats`.
pub async fn stats(State(state): State<AppState>, user: User) -> Response {
    let stats = match api::compute_stats(&state, 14).await {
        Ok(stats) => stats,
        Err(error) => return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    let mut body = format!(
        "<h1>Stored events</h1><p>{} events from {} to {}.</p>",
        stats["total"],
        escape(stats["oldest"].as_str().unwrap_or("-")),
        escape(stats["newest"].as_str().unwrap_or("-"))
    );
    let sources: Vec<(String, u64)> = stats["sources"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    body.push_str("<table class=\"small stats\"><tr><th>day</th>");
    for (source, _) in &sources {
        let _ = write!(body, "<th>{}</th>", escape(source));
    }
    body.push_str("</tr>");
    for day in stats["days"].as_array().into_iter().flatten() {
        let _ = write!(
            body,
            "<tr><td>{}</td>",
            escape(day["day"].as_str().unwrap_or(""))
        );
        for (source, _) in &sources {
            let _ = write!(
                body,
                "<td class=\"num\">{}</td>",
                day["sources"][source].as_u64().unwrap_or(0)
            );
        }
        body.push_str("</tr>");
    }
    body.push_str("<tr class=\"total\"><td>all</td>");
    for (_, count) in &sources {
        let _ = write!(body, "<td class=\"num\">{count}</td>");
    }
    body.push_str("</tr></table><p><a href=\"/api/v1/stats\">as JSON</a> · <a href=\"/metrics\">metrics</a></p>");
    Html(page(&frame("stats", &user, ""), &body, &[])).into_response()
}

/// `GET /keys`: the user's API keys.
pub async fn keys(State(state): State<AppState>, user: User) -> Response {
    keys_page(&state, &user, None)
}

fn keys_page(state: &AppState, user: &User, new_key: Option<&str>) -> Response {
    let mut body = String::from("<h1>API keys</h1><p>Scripts send a key as <code>Authorization: Bearer tt_…</code>; it acts with your role.</p>");
    if let Some(key) = new_key {
        let _ = write!(
            body,
            "<p class=\"newkey\">New key (shown once, copy it now): <code id=\"new-key\">{}</code></p>",
            escape(key)
        );
    }
    let accounts = state.accounts.snapshot();
    body.push_str(
        "<table class=\"small\"><tr><th>id</th><th>label</th><th>created</th><th></th></tr>",
    );
    if let Some(account) = accounts.accounts.iter().find(|a| a.name == user.name) {
        for key in &account.api_keys {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/keys/revoke\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
                 <button type=\"submit\">Revoke</button></form></td></tr>",
                escape(&key.id),
                escape(&key.label),
                escape(&key.created),
                escape(user.csrf_token()),
                escape(&key.id)
            );
        }
    }
    let _ = write!(
        body,
        "</table><form method=\"post\" action=\"/keys\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Label <input name=\"label\" maxlength=\"80\"></label><button type=\"submit\">Create key</button></form>",
        escape(user.csrf_token())
    );
    Html(page(&frame("API keys", user, ""), &body, &[])).into_response()
}

/// Key forms.
#[derive(Debug, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub id: String,
}

/// `POST /keys`.
pub async fn keys_create(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(response) = user.check_csrf(Some(&form.csrf)) {
        return response.into_response();
    }
    state
        .audit
        .record(&user.name, "/keys create", json!({"label": form.label}));
    match crate::accounts::create_api_key(state.accounts.file(), &user.name, &form.label) {
        Ok(key) => keys_page(&state, &user, Some(&key)),
        Err(error) => error_page(&user, StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

/// `POST /keys/revoke`.
pub async fn keys_revoke(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(response) = user.check_csrf(Some(&form.csrf)) {
        return response.into_response();
    }
    state
        .audit
        .record(&user.name, "/keys revoke", json!({"id": form.id}));
    match crate::accounts::revoke_api_key(state.accounts.file(), &user.name, &form.id) {
        Ok(_) => Redirect::to("/keys").into_response(),
        Err(error) => error_page(&user, StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

/// `GET /admin`: accounts.
pub async fn admin(State(state): State<AppState>, user: User) -> Response {
    if let Err(response) = user.require_admin() {
        return response.into_response();
    }
    let accounts = match crate::accounts::list_accounts(state.accounts.file()) {
        Ok(accounts) => accounts,
        Err(error) => {
            return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error.to_string())
        }
    };
    let csrf = escape(user.csrf_token());
    let mut body = String::from("<h1>Accounts</h1><table class=\"small\" id=\"accounts\"><tr><th>name</th><th>role</th><th>created</th><th>API keys</th><th></th></tr>");
    for account in &accounts {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/admin/accounts/remove\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"name\" value=\"{}\">\
             <button type=\"submit\">Remove</button></form></td></tr>",
            escape(&account.name),
            account.role.as_str(),
            escape(&account.created),
            account.api_keys.len(),
            escape(&account.name)
        );
    }
    let _ = write!(
        body,
        "</table><h2>Add an account</h2><form method=\"post\" action=\"/admin/accounts\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Name <input name=\"name\" required pattern=\"[A-Za-z0-9._@-]{{1,64}}\"></label>\
         <label>Password <input type=\"password\" name=\"password\" required minlength=\"{}\" autocomplete=\"new-password\"></label>\
         <label>Role <select name=\"role\"><option value=\"viewer\">viewer</option><option value=\"admin\">admin</option></select></label>\
         <button type=\"submit\">Add</button></form><p><a href=\"/watchlist\">Watchlist</a></p>",
        crate::accounts::MIN_PASSWORD_CHARS
    );
    Html(page(&frame("admin", &user, ""), &body, &[])).into_response()
}

/// Account forms.
#[derive(Debug, Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    pub csrf: String,
    pub name: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub role: String,
}

/// `POST /admin/accounts`.
pub async fn admin_add(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<AccountForm>,
) -> Response {
    if let Err(response) = user
        .check_csrf(Some(&form.csrf))
        .and_then(|()| user.require_admin())
    {
        return response.into_response();
    }
    let role = match form.role.parse::<crate::accounts::Role>() {
        Ok(role) => role,
        Err(error) => return error_page(&user, StatusCode::BAD_REQUEST, &error),
    };
    state.audit.record(
        &user.name,
        "/admin/accounts add",
        json!({"name": form.name, "role": form.role}),
    );
    let file = state.accounts.file().to_path_buf();
    let name = form.name.clone();
    let result = tokio::task::spawn_blocking(move || {
        crate::accounts::add_account(&file, &name, role, &form.password)
    })
    .await;
    match result {
        Ok(Ok(())) => Redirect::to("/admin").into_response(),
        Ok(Err(error)) => error_page(&user, StatusCode::BAD_REQUEST, &error.to_string()),
        Err(error) => error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

/// `POST /admin/accounts/remove`.
pub async fn admin_remove(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<AccountForm>,
) -> Response {
    if let Err(response) = user
        .check_csrf(Some(&form.csrf))
        .and_then(|()| user.require_admin())
    {
        return response.into_response();
    }
    if form.name == user.name {
        return error_page(
            &user,
            StatusCode::BAD_REQUEST,
            "you cannot remove your own account here; use `tokentrail user remove`",
        );
    }
    state.audit.record(
        &user.name,
        "/admin/accounts remove",
        json!({"name": form.name}),
    );
    match crate::accounts::remove_account(state.accounts.file(), &form.name) {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(error) => error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

/// `GET /watchlist`: the data directory's watchlist (shared with `tokentrail watch`), each
/// entry linking to its trace, with ban-list downloads; admins add and remove entries.
pub async fn watchlist(State(state): State<AppState>, user: User) -> Response {
    let entries = match state.watchlist.list() {
        Ok(entries) => entries,
        Err(error) => return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    let csrf = escape(user.csrf_token());
    let is_admin = user.require_admin().is_ok();
    let mut body = String::from(
        "<h1>Watchlist</h1><p>Ingest matches every newly stored event against these entries and \
         raises an <a href=\"/alerts\">alert</a>. The same list as <code>tokentrail watch</code>.</p>\
         <table class=\"small\" id=\"watchlist\"><thead><tr><th>kind</th><th>value</th><th>issuer</th>\
         <th>reason</th><th>added</th><th></th></tr></thead><tbody>",
    );
    for item in &entries {
        let entry = &item.entry;
        let remove = if is_admin {
            format!(
                "<form method=\"post\" action=\"/watchlist/remove\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\">Remove</button></form>",
                escape(&item.id)
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr data-id=\"{}\" data-kind=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} by {}</td><td>{remove}</td></tr>",
            escape(&item.id),
            entry.kind.as_str(),
            entry.kind.as_str(),
            seed_link(&entry.seed(), &entry.value),
            escape_line(&entry.iss),
            escape_line(&entry.reason),
            escape(&time_text(Some(entry.added))),
            escape_line(&entry.added_by)
        );
    }
    body.push_str("</tbody></table><p class=\"exports\" id=\"banlist-exports\">Ban list:");
    for format in tokentrail_index::analytics::banlist::FORMATS {
        let _ = write!(
            body,
            " <a href=\"/api/v1/watchlist/export?format={format}\" download>{format}</a>"
        );
    }
    body.push_str(
        " <span class=\"muted\">(json: feed for other sites; misp: MISP event; gplazma: dCache ban.conf; \
         htcondor: CE mapfile; nftables: address sets)</span></p>",
    );
    if is_admin {
        let options: String = crate::watchlist::KINDS
            .iter()
            .map(|kind| format!("<option value=\"{kind}\">{kind}</option>"))
            .collect();
        let _ = write!(
            body,
            "<h2>Watch a value</h2><form method=\"post\" action=\"/watchlist\" id=\"watch-add\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label>Kind <select name=\"kind\">{options}</select></label><label>Value <input name=\"value\" required></label>\
             <label>Issuer (identities) <input name=\"iss\"></label>\
             <label>Reason <input name=\"reason\" required></label><button type=\"submit\">Add</button></form>"
        );
    }
    Html(page(&frame("watchlist", &user, ""), &body, &[])).into_response()
}

/// Watchlist forms.
#[derive(Debug, Deserialize)]
pub struct WatchForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub id: String,
}

/// `POST /watchlist`.
pub async fn watchlist_add(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<WatchForm>,
) -> Response {
    if let Err(response) = user
        .check_csrf(Some(&form.csrf))
        .and_then(|()| user.require_admin())
    {
        return response.into_response();
    }
    state.audit.record(
        &user.name,
        "/watchlist add",
        json!({"kind": form.kind, "value": form.value, "iss": form.iss, "reason": form.reason}),
    );
    match state
        .watchlist
        .add(&form.kind, &form.value, &form.iss, &form.reason, &user.name)
    {
        Ok(_) => Redirect::to("/watchlist").into_response(),
        Err(error) => error_page(&user, StatusCode::BAD_REQUEST, &error),
    }
}

/// `POST /watchlist/remove`.
pub async fn watchlist_remove(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<WatchForm>,
) -> Response {
    if let Err(response) = user
        .check_csrf(Some(&form.csrf))
        .and_then(|()| user.require_admin())
    {
        return response.into_response();
    }
    state
        .audit
        .record(&user.name, "/watchlist remove", json!({"id": form.id}));
    match state.watchlist.remove(&form.id) {
        Ok(true) => Redirect::to("/watchlist").into_response(),
        Ok(false) => error_page(&user, StatusCode::NOT_FOUND, "no such watchlist entry"),
        Err(error) => error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// `GET /alerts`: the watchlist alerts ingest raised, newest first, each linking to its
/// trace; the ones the user has not acknowledged are marked.
pub async fn alerts(State(state): State<AppState>, user: User) -> Response {
    let alerts = match state.alerts.recent(500) {
        Ok(alerts) => alerts,
        Err(error) => return error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    };
    let seen = state.alerts.seen_by(&user.name);
    let mut body = format!(
        "<h1>Watchlist alerts</h1><p>{} recent alerts, {} new since you last acknowledged. \
         <a href=\"/api/v1/alerts\">as JSON</a></p>",
        alerts.len(),
        user.unseen_alerts
    );
    if user.unseen_alerts > 0 {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/alerts/ack\" id=\"alerts-ack\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Mark all as seen</button></form>",
            escape(user.csrf_token())
        );
    }
    body.push_str(
        "<table class=\"small\" id=\"alerts\"><thead><tr><th>raised (UTC)</th><th>entry</th><th>reason</th>\
         <th>matches</th><th>first matching event</th><th>trace</th></tr></thead><tbody>",
    );
    for alert in &alerts {
        let new = seen.is_none_or(|seen| alert.raised > seen);
        let first = alert
            .events
            .first()
            .map(|event| {
                format!(
                    "{} {} <a href=\"/event/{}\">{}:{}</a>",
                    escape(&time_text(event.time)),
                    escape(&event.action),
                    url_component(&event.id),
                    escape_line(&event.origin.file),
                    event.origin.line
                )
            })
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr{}><td>{}</td><td>{} {}</td><td>{}</td><td class=\"num\">{}</td><td>{first}</td><td>{}</td></tr>",
            if new { " class=\"new\"" } else { "" },
            escape(&time_text(Some(alert.raised))),
            alert.entry.kind.as_str(),
            escape_line(&alert.entry.value),
            escape_line(&alert.entry.reason),
            alert.matches,
            seed_link(&alert.trace, "trace")
        );
    }
    body.push_str("</tbody></table>");
    Html(page(&frame("alerts", &user, ""), &body, &[])).into_response()
}

/// `POST /alerts/ack`: marks every alert so far as seen by the user.
pub async fn alerts_ack(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(response) = user.check_csrf(Some(&form.csrf)) {
        return response.into_response();
    }
    match state.alerts.acknowledge(&user.name) {
        Ok(()) => Redirect::to("/alerts").into_response(),
        Err(error) => error_page(&user, StatusCode::INTERNAL_SERVER_ERROR, &error),
    }
}

/// `GET /assets/{name}`: the embedded static files (no CDN, no network).
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type): (&'static str, &'static str) = match name.as_str() {
        "style.css" => (
            include_str!("../assets/style.css"),
            "text/css; charset=utf-8",
        ),
        "trace.js" => (
            include_str!("../assets/trace.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                axum::http::header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Unknown routes.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

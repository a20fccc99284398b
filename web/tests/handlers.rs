//! Handler tests through `app().oneshot(request)`: sign-in, roles, CSRF, API keys, escaping of
//! attacker-controlled log content, the audit log, metrics and the trace exports.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use tokentrail_index::{Checkpoints, EventSink, TantivyStore};
use tokentrail_parsers::{Event, Origin, Service, Timestamp};
use tokentrail_web::{add_account, app, app_with, AppState, Role, ServerConfig};
use tower::ServiceExt as _;

const XSS: &str = "<script>alert(1)</script>";
const SUB: &str = "6ac17538-6c67-49f7-8693-4d6e43ed192e";
const JTI: &str = "31da268d-60ce-4731-ae40-a9e542ce757c";
const PASSWORD: &str = "correct horse battery";
const HOSTILE_JTI: &str = "jti-<script>alert(1)</script>";

struct Fixture {
    _dir: tempfile::TempDir,
    config: ServerConfig,
    state: AppState,
}

fn event(id: &str, millis: i64, action: &str) -> Event {
    Event {
        id: id.into(),
        time: Some(Timestamp(millis)),
        action: action.to_string().into(),
        outcome: "ok".into(),
        sub: SUB.into(),
        jti: JTI.into(),
        origin: Origin {
            file: "se01/xrootd.log".into(),
            line: 7,
            offset: 100,
        },
        ..Event::new("xrootd", Service::Storage)
    }
}

fn fixture() -> Fixture {
    fixture_with(&[])
}

/// A token an attacker could shape: every claim carries markup, and it breaks the WLCG
/// profile (12 h, `aud` any, write at the VO root) and is used after it expired.
fn hostile_token_events() -> Vec<Event> {
    let issued = 1_741_600_200_000;
    let issue = Event {
        id: "h1".into(),
        time: Some(Timestamp(issued)),
        action: "token.issue".into(),
        outcome: "ok".into(),
        host: format!("iam{XSS}"),
        iss: format!("https://iss.example/{XSS}"),
        sub: format!("\"><img src=x onerror=alert(1)>{XSS}"),
        jti: HOSTILE_JTI.into(),
        client_id: format!("client{XSS}"),
        aud: vec!["https://wlcg.cern.ch/jwt/v1/any".into()],
        scopes: vec![format!("storage.modify:/{XSS}"), "storage.modify:/".into()],
        token_iat: Some(Timestamp(issued)),
        token_exp: Some(Timestamp(issued + 12 * 3600 * 1000)),
        raw: format!("issued {XSS}"),
        origin: Origin {
            file: format!("iam/{XSS}.log"),
            line: 1,
            offset: 0,
        },
        ..Event::new("iam-audit", Service::Issuer)
    };
    let late_use = Event {
        id: "h2".into(),
        time: Some(Timestamp(issued + 13 * 3600 * 1000)),
        action: "file.read".into(),
        outcome: "ok".into(),
        host: "se02".into(),
        jti: HOSTILE_JTI.into(),
        client_ip: "198.51.100.23".into(),
        path: format!("/store/{XSS}"),
        raw: format!("GET /store/{XSS}"),
        origin: Origin {
            file: format!("se02/{XSS}.log"),
            line: 2,
            offset: 10,
        },
        ..Event::new("storm-webdav", Service::Storage)
    };
    vec![issue, late_use]
}

fn fixture_with(extra: &[Event]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = TantivyStore::open(dir.path()).unwrap();
    let mut sink = store.writer(50 << 20).unwrap();
    let mut issue = event("e1", 1_741_600_000_000, "token.issue");
    issue.client_ip = "192.0.2.10".into();
    sink.add(&issue, false).unwrap();
    let mut read = event("e2", 1_741_600_060_000, "file.read");
    read.path = format!("/store/{XSS}\"'\u{1b}[31m");
    read.client_ip = "203.0.113.66".into();
    read.raw = format!("open r /store/{XSS} ua=\"Mozilla {XSS}\" \u{7}\u{0}");
    sink.add(&read, false).unwrap();
    let mut weird = event("e3", 1_741_600_120_000, "file.write");
    weird.sub = format!("\"><img src=x onerror=alert(1)>{XSS}");
    weird.jti = String::new();
    weird.path = "=HYPERLINK(\"http://x\")".into();
    weird.raw = format!("sub={XSS}");
    sink.add(&weird, false).unwrap();
    for event in extra {
        sink.add(event, false).unwrap();
    }
    sink.commit(&Checkpoints::default()).unwrap();
    store.reload().unwrap();
    let config = ServerConfig::new(dir.path());
    add_account(&config.accounts_file, "alice", Role::Admin, PASSWORD).unwrap();
    add_account(&config.accounts_file, "victor", Role::Viewer, PASSWORD).unwrap();
    let state = AppState::new(config.clone(), Arc::new(store)).unwrap();
    Fixture {
        _dir: dir,
        config,
        state,
    }
}

async fn send(fixture: &Fixture, request: Request<Body>) -> Response<Body> {
    app(fixture.state.clone()).oneshot(request).await.unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 50 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn cookie_of(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn hidden_csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

/// Signs in and returns `(cookie header, csrf token)`.
async fn login(fixture: &Fixture, name: &str) -> (String, String) {
    let form = send(fixture, Request::get("/login").body(Body::empty()).unwrap()).await;
    let login_cookie = cookie_of(&form, "tt_login").unwrap();
    let pair = login_cookie.split(';').next().unwrap().to_string();
    let csrf = hidden_csrf(&text(form).await);
    let body = format!("username={name}&password=correct+horse+battery&csrf={csrf}&next=%2Fsearch");
    let response = send(
        fixture,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &pair)
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/search");
    let session = cookie_of(&response, "tt_session").expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let session = session.split(';').next().unwrap().to_string();
    let home = send(
        fixture,
        Request::get("/")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let csrf = hidden_csrf(&text(home).await);
    (session, csrf)
}

async fn get(fixture: &Fixture, uri: &str, cookie: &str) -> Response<Body> {
    send(
        fixture,
        Request::get(uri)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn nothing_but_health_is_readable_without_signing_in() {
    let fixture = fixture();
    for uri in [
        "/api/v1/search?q=x",
        "/api/v1/trace?jti=x",
        "/api/v1/events/e1",
        "/api/v1/stats",
        "/metrics",
        "/api/v1/report",
        "/api/v1/incident-report?jti=x",
        "/api/v1/watchlist",
        "/api/v1/watchlist/export?format=csv",
        "/api/v1/alerts",
    ] {
        let response = send(&fixture, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
    for uri in ["/report", "/alerts", "/watchlist"] {
        let response = send(&fixture, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{uri}");
    }
    let response = send(
        &fixture,
        Request::get("/trace?jti=x").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?next=%2Ftrace%3Fjti%3Dx"
    );
    let health = send(
        &fixture,
        Request::get("/api/v1/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(health.status(), StatusCode::OK);
    let headers = health.headers();
    assert!(headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let openapi = send(
        &fixture,
        Request::get("/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let spec: serde_json::Value = serde_json::from_str(&text(openapi).await).unwrap();
    assert!(spec["paths"]["/api/v1/trace"].is_object());
    for path in [
        "/api/v1/report",
        "/api/v1/incident-report",
        "/api/v1/watchlist",
        "/api/v1/watchlist/{id}",
        "/api/v1/watchlist/export",
        "/api/v1/alerts",
        "/api/v1/alerts/ack",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from openapi.json"
        );
    }
}

#[tokio::test]
async fn login_needs_the_form_pair_and_the_right_password() {
    let fixture = fixture();
    let no_pair = send(
        &fixture,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "username=alice&password=correct+horse+battery&csrf=x",
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(no_pair.status(), StatusCode::FORBIDDEN);
    let wrong = send(
        &fixture,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, "tt_login=abc")
            .body(Body::from(
                "username=alice&password=wrong&csrf=abc&next=//evil.example",
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::SEE_OTHER);
    assert!(wrong.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login?failed=1"));
    assert!(cookie_of(&wrong, "tt_session").is_none());
    let (session, _) = login(&fixture, "alice").await;
    assert_eq!(
        get(&fixture, "/api/v1/stats", &session).await.status(),
        StatusCode::OK
    );
    let audit = std::fs::read_to_string(fixture.config.data_dir.join("audit.log")).unwrap();
    assert!(audit.contains("\"outcome\":\"fail\""));
    assert!(
        !audit.contains("correct horse") && !audit.contains("wrong"),
        "password in audit log"
    );
}

#[tokio::test]
async fn state_changes_need_the_csrf_token_and_the_admin_role() {
    let fixture = fixture();
    let (session, csrf) = login(&fixture, "alice").await;
    let post = |cookie: String, csrf_header: Option<String>| {
        let mut request = Request::post("/api/v1/watchlist")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, cookie);
        if let Some(token) = csrf_header {
            request = request.header("x-csrf-token", token);
        }
        request
            .body(Body::from(format!(
                "{{\"kind\":\"jti\",\"value\":\"{JTI}\",\"reason\":\"stolen\"}}"
            )))
            .unwrap()
    };
    assert_eq!(
        send(&fixture, post(session.clone(), None)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&fixture, post(session.clone(), Some(csrf.clone())))
            .await
            .status(),
        StatusCode::CREATED
    );
    let (viewer, viewer_csrf) = login(&fixture, "victor").await;
    assert_eq!(
        send(&fixture, post(viewer.clone(), Some(viewer_csrf.clone())))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&fixture, "/admin", &viewer).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&fixture, "/admin", &session).await.status(),
        StatusCode::OK
    );
    let cross_site = send(
        &fixture,
        Request::post("/logout")
            .header(header::COOKIE, &session)
            .header("sec-fetch-site", "cross-site")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let no_token = send(
        &fixture,
        Request::post("/logout")
            .header(header::COOKIE, &viewer)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("csrf=nope"))
            .unwrap(),
    )
    .await;
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let logout = send(
        &fixture,
        Request::post("/logout")
            .header(header::COOKIE, &viewer)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={viewer_csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get(&fixture, "/api/v1/stats", &viewer).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn api_keys_authenticate_scripts() {
    let fixture = fixture();
    let key =
        tokentrail_web::create_api_key(&fixture.config.accounts_file, "victor", "cron").unwrap();
    let response = send(
        &fixture,
        Request::get(format!("/api/v1/search?q={JTI}"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(answer["total"], 2);
    assert_eq!(answer["recognised"]["as"], "sub or jti");
    let bad = send(
        &fixture,
        Request::get("/api/v1/search?q=x")
            .header(header::AUTHORIZATION, format!("Bearer {key}x"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    tokentrail_web::remove_account(&fixture.config.accounts_file, "victor").unwrap();
    let removed = send(
        &fixture,
        Request::get("/api/v1/stats")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(removed.status(), StatusCode::UNAUTHORIZED);
}

fn assert_no_raw_markup(page: &str, what: &str) {
    assert!(!page.contains(XSS), "{what}: unescaped <script> in\n{page}");
    assert!(!page.contains("<img src=x"), "{what}: unescaped <img>");
    assert!(
        !page.contains('\u{1b}') && !page.contains('\u{0}') && !page.contains('\u{7}'),
        "{what}: raw control character"
    );
}

#[tokio::test]
async fn log_content_is_escaped_on_every_page() {
    let fixture = fixture();
    let (session, _) = login(&fixture, "alice").await;
    for uri in [
        format!("/search?q={SUB}"),
        "/search?q=path:/store/*".to_string(),
        format!("/trace?sub={SUB}"),
        format!("/trace?jti={JTI}"),
        "/event/e2".to_string(),
        "/event/e3".to_string(),
        "/trace?sub=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_string(),
        "/trace?path=%3DHYPERLINK(%22http%3A%2F%2Fx%22)".to_string(),
        "/search?q=%3Cscript%3Ealert(1)%3C/script%3E".to_string(),
    ] {
        let response = get(&fixture, &uri, &session).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let page = text(response).await;
        assert_no_raw_markup(&page, &uri);
        if uri == format!("/trace?sub={SUB}") {
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert!(
                page.contains("\\u{1b}[31m"),
                "control characters are shown escaped"
            );
            // The embedded answer cannot close its <script> element.
            let start = page.find("id=\"trace-data\">").unwrap();
            let end = page[start..].find("</script>").unwrap();
            let data = &page[start + 16..start + end];
            assert!(!data.contains('<'));
            let answer: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(answer["events"].as_array().unwrap().len(), 2);
        }
    }
    let json = text(get(&fixture, "/api/v1/events/e2", &session).await).await;
    let event: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        event["raw"].as_str().unwrap().contains(XSS),
        "JSON keeps the value, escaped by JSON rules"
    );
    assert!(!json.contains('\u{0}') && !json.contains('\u{7}'));
}

#[tokio::test]
async fn trace_api_and_exports() {
    let fixture = fixture();
    let (session, _) = login(&fixture, "alice").await;
    let response = get(
        &fixture,
        &format!("/api/v1/trace?sub={SUB}&incidents=true"),
        &session,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    for key in [
        "query",
        "truncated",
        "identities",
        "tokens",
        "jobs",
        "events",
    ] {
        assert!(answer.get(key).is_some(), "{key}");
    }
    let first = &answer["events"][0];
    assert!(first["link"]["rule"].is_string() && first["origin"]["line"] == 7);
    assert!(answer["incidents"].is_array());
    let csv = get(
        &fixture,
        "/api/v1/trace.csv?path=%3DHYPERLINK(%22http%3A%2F%2Fx%22)",
        &session,
    )
    .await;
    assert_eq!(
        csv.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    let csv = text(csv).await;
    assert!(csv.starts_with("id,time,source"));
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""),
        "formula guarded:\n{csv}"
    );
    let bad = get(&fixture, "/api/v1/trace?sub=a&jti=b", &session).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let audit = std::fs::read_to_string(fixture.config.data_dir.join("audit.log")).unwrap();
    assert!(audit.lines().any(|line| line.contains("\"user\":\"alice\"")
        && line.contains("/api/v1/trace")
        && line.contains(SUB)));
}

#[tokio::test]
async fn pasted_tokens_are_traced_by_claims_and_never_logged() {
    let fixture = fixture();
    let (session, _) = login(&fixture, "alice").await;
    let signature = "c2VjcmV0LXNpZ25hdHVyZS1ieXRlcw";
    let token = tokentrail_parsers::jwt::encode_test_jwt(
        &serde_json::json!({"sub": SUB, "jti": JTI}),
        signature,
    );
    let page = text(get(&fixture, &format!("/search?q={token}"), &session).await).await;
    assert!(page.contains(&format!("/trace?jti={JTI}")));
    assert!(!page.contains(signature));
    let audit = std::fs::read_to_string(fixture.config.data_dir.join("audit.log")).unwrap();
    assert!(!audit.contains(signature), "token in audit log");
}

#[tokio::test]
async fn metrics_count_queries_and_events() {
    let fixture = fixture();
    let (session, _) = login(&fixture, "alice").await;
    get(&fixture, &format!("/api/v1/search?q={SUB}"), &session).await;
    let metrics = text(get(&fixture, "/metrics", &session).await).await;
    assert!(
        metrics.contains("tokentrail_query_duration_seconds_count{kind=\"search\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tokentrail_events{source=\"xrootd\"} 3"),
        "{metrics}"
    );
    assert!(metrics
        .contains("tokentrail_http_requests_total{route=\"/api/v1/search\",status=\"200\"} 1"));
    assert!(metrics.contains("tokentrail_ingest_lag_seconds"));
    let stats: serde_json::Value =
        serde_json::from_str(&text(get(&fixture, "/api/v1/stats", &session).await).await).unwrap();
    assert_eq!(stats["sources"]["xrootd"], 3);
    assert_eq!(stats["days"][0]["sources"]["xrootd"], 3);
}

/// A host program's routes (the collectors' push endpoint) and metrics join the app: the
/// routes behind the same security headers and request counters, the metrics in the one
/// `/metrics` (which stays behind the sign-in).
#[tokio::test]
async fn extra_routes_and_metrics_join_the_app() {
    let fixture = fixture();
    let key =
        tokentrail_web::create_api_key(&fixture.config.accounts_file, "victor", "prom").unwrap();
    let store = TantivyStore::open(&fixture.config.data_dir).unwrap();
    let state = AppState::with_metrics(
        fixture.config.clone(),
        Arc::new(store),
        Some(Arc::new(|| {
            "# TYPE host_program_things_total counter\nhost_program_things_total 7\n".to_string()
        })),
    )
    .unwrap();
    let extra = axum::Router::new().route(
        "/api/v1/ingest",
        axum::routing::post(|| async { (StatusCode::ACCEPTED, "taken") }),
    );
    let app = app_with(state, extra);
    let pushed = app
        .clone()
        .oneshot(
            Request::post("/api/v1/ingest")
                .body(Body::from("a line\n"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::ACCEPTED);
    assert!(pushed
        .headers()
        .contains_key(header::CONTENT_SECURITY_POLICY));
    let unauthenticated = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let metrics = app
        .oneshot(
            Request::get("/metrics")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let metrics = text(metrics).await;
    assert!(
        metrics.contains("host_program_things_total 7\n"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("tokentrail_http_requests_total{route=\"/api/v1/ingest\",status=\"202\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tokentrail_events{source=\"xrootd\"} 3"));
}

#[tokio::test]
async fn non_loopback_without_accounts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TantivyStore::open(dir.path()).unwrap());
    let mut config = ServerConfig::new(dir.path());
    config.listen = SocketAddr::from(([0, 0, 0, 0], 0));
    let error = tokentrail_web::serve(config, store).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("no account is configured"), "{message}");
    assert!(message.contains("tokentrail user add"), "{message}");
}

#[tokio::test]
async fn secure_cookies_behind_tls() {
    let mut fixture = fixture();
    let mut config = fixture.config.clone();
    config.secure_cookies = true;
    fixture.state = AppState::new(
        config,
        Arc::new(TantivyStore::open(&fixture.config.data_dir).unwrap()),
    )
    .unwrap();
    let form = send(
        &fixture,
        Request::get("/login").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(cookie_of(&form, "tt_login").unwrap().contains("; Secure"));
}

async fn json_of(response: Response<Body>) -> serde_json::Value {
    serde_json::from_str(&text(response).await).unwrap()
}

#[tokio::test]
async fn report_api_is_the_librarys_report_and_rejects_bad_ranges() {
    let fixture = fixture_with(&hostile_token_events());
    let (session, _) = login(&fixture, "alice").await;
    let response = get(&fixture, "/api/v1/report", &session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut api = json_of(response).await;
    let store = TantivyStore::open(&fixture.config.data_dir).unwrap();
    let library = tokentrail_index::analytics::policy_report(
        &store,
        None,
        None,
        &tokentrail_index::analytics::ReportConfig::default(),
    )
    .unwrap();
    let mut expected = serde_json::to_value(&library).unwrap();
    api["generated"] = serde_json::Value::Null;
    expected["generated"] = serde_json::Value::Null;
    assert_eq!(
        api, expected,
        "the API's report differs from `tokentrail report --format json`"
    );
    let flagged = api["flagged"].as_array().unwrap();
    let hostile = flagged
        .iter()
        .find(|token| token["jti"] == HOSTILE_JTI)
        .expect("the hostile token is flagged");
    let reasons: Vec<&str> = hostile["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for reason in [
        "lifetime>6h",
        "aud=any",
        "storage.modify:/",
        "use-after-expiry",
    ] {
        assert!(
            reasons.contains(&reason),
            "{reason} missing from {reasons:?}"
        );
    }
    assert!(api["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|anomaly| anomaly["kind"] == "use-after-expiry" && anomaly["jti"] == HOSTILE_JTI));

    // A window before the hostile token: not in it.
    let early: serde_json::Value = json_of(
        get(
            &fixture,
            "/api/v1/report?from=2025-03-10&to=1741600150",
            &session,
        )
        .await,
    )
    .await;
    assert!(early["flagged"]
        .as_array()
        .unwrap()
        .iter()
        .all(|token| token["jti"] != HOSTILE_JTI));

    for (uri, message) in [
        (
            "/api/v1/report?from=yesterday",
            "from \"yesterday\" is not a time",
        ),
        (
            "/api/v1/report?to=%3Cscript%3E",
            "to \"<script>\" is not a time",
        ),
        (
            "/api/v1/report?from=2025-03-11&to=2025-03-10",
            "must be before to",
        ),
        ("/report?from=2025-03-11&to=2025-03-11", "must be before to"),
    ] {
        let response = get(&fixture, uri, &session).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let body = text(response).await;
        let shown = if uri.starts_with("/api/") {
            body.clone()
        } else {
            body.replace("&quot;", "\"")
        };
        assert!(
            shown.contains(message) || json_text(&body).contains(message),
            "{uri}: {body}"
        );
        if !uri.starts_with("/api/") {
            assert_no_raw_markup(&body, uri);
        }
    }
}

fn json_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test]
async fn report_page_shows_the_apis_findings_escaped() {
    let fixture = fixture_with(&hostile_token_events());
    let (session, _) = login(&fixture, "victor").await;
    let api = json_of(get(&fixture, "/api/v1/report", &session).await).await;
    let response = get(&fixture, "/report", &session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = text(response).await;
    assert_no_raw_markup(&page, "/report");
    assert!(page.contains("href=\"/report\""), "nav link to the report");
    for table in [
        "flagged",
        "anomalies",
        "inventory",
        "lifetimes",
        "findings",
        "issuance",
        "refused",
    ] {
        assert!(page.contains(&format!("id=\"{table}\"")), "section {table}");
    }
    let flagged_rows = page.matches("<tr data-jti=").count();
    assert_eq!(flagged_rows, api["flagged"].as_array().unwrap().len());
    assert!(
        page.contains("<tr data-jti=\"jti-&lt;script&gt;alert(1)&lt;/script&gt;\">"),
        "hostile jti escaped in its row"
    );
    assert!(
        page.contains("href=\"/trace?jti=jti-%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""),
        "flagged token links to its trace"
    );
    let anomaly_rows = page.matches("<tr data-kind=").count();
    assert_eq!(anomaly_rows, api["anomalies"].as_array().unwrap().len());
    assert!(
        page.contains("iam-audit@iam&lt;script&gt;"),
        "issuer instance escaped"
    );
}

#[tokio::test]
async fn incident_report_downloads_html_and_json_of_the_trace() {
    let fixture = fixture();
    let (session, _) = login(&fixture, "victor").await;
    let trace = json_of(get(&fixture, &format!("/api/v1/trace?sub={SUB}"), &session).await).await;
    let response = get(
        &fixture,
        &format!("/api/v1/incident-report?sub={SUB}"),
        &session,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"incident-report.html\""
    );
    let html = text(response).await;
    assert_no_raw_markup(&html, "incident report");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains(&format!("<title>Incident report: sub {SUB}</title>")));
    let json = json_of(
        get(
            &fixture,
            &format!("/api/v1/incident-report?sub={SUB}&format=json&title=%3Cb%3Ecase%3C%2Fb%3E"),
            &session,
        )
        .await,
    )
    .await;
    assert_eq!(json["title"], "<b>case</b>");
    assert_eq!(
        json["timeline"].as_array().unwrap().len(),
        trace["events"].as_array().unwrap().len()
    );
    let titled = text(
        get(
            &fixture,
            &format!("/api/v1/incident-report?sub={SUB}&title=%3Cb%3Ecase%3C%2Fb%3E"),
            &session,
        )
        .await,
    )
    .await;
    assert!(titled.contains("<title>&lt;b&gt;case&lt;/b&gt;</title>"));
    for (uri, message) in [
        ("/api/v1/incident-report".to_string(), "give exactly one of"),
        (
            format!("/api/v1/incident-report?sub={SUB}&jti={JTI}"),
            "give exactly one of",
        ),
        (
            format!("/api/v1/incident-report?sub={SUB}&format=pdf"),
            "format \"pdf\" is not html or json",
        ),
        (
            format!("/api/v1/incident-report?sub={SUB}&from=soon"),
            "from \"soon\" is not a time",
        ),
        (
            format!("/api/v1/incident-report?sub={SUB}&max_depth=deep"),
            "max_depth",
        ),
    ] {
        let response = get(&fixture, &uri, &session).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let body = text(response).await;
        assert!(
            body.contains(message) || json_text(&body).contains(message),
            "{uri}: {body}"
        );
    }
    let trace_page = text(get(&fixture, &format!("/trace?sub={SUB}"), &session).await).await;
    assert!(trace_page.contains(&format!(
        "id=\"incident-report\" href=\"/api/v1/incident-report?sub={SUB}\""
    )));
}

#[tokio::test]
async fn the_web_watchlist_is_the_clis_file() {
    use tokentrail_index::analytics::{EntryKind, WatchEntry, Watchlist};
    let fixture = fixture();
    let data = fixture.config.data_dir.clone();
    // What `tokentrail watch add --sub … --reason …` writes.
    let mut list = Watchlist::default();
    list.add(WatchEntry {
        kind: EntryKind::Identity,
        value: SUB.into(),
        iss: "https://iss.example".into(),
        reason: format!("phished {XSS}"),
        added: Timestamp(1_741_600_000_000),
        added_by: "cli".into(),
    });
    list.save(&data).unwrap();
    let (admin, csrf) = login(&fixture, "alice").await;
    let listed = json_of(get(&fixture, "/api/v1/watchlist", &admin).await).await;
    let entries = listed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["kind"], "identity");
    assert_eq!(entries[0]["reason"], format!("phished {XSS}"));
    let id = entries[0]["id"].as_str().unwrap().to_string();
    let page = text(get(&fixture, "/watchlist", &admin).await).await;
    assert_no_raw_markup(&page, "/watchlist");
    assert!(page.contains("phished &lt;script&gt;"));
    assert!(page.contains(&format!(
        "href=\"/trace?sub={SUB}&amp;iss=https%3A%2F%2Fiss.example\""
    )));
    assert!(page.contains("/api/v1/watchlist/export?format=gplazma"));

    let post = |body: String| {
        Request::post("/api/v1/watchlist")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, &admin)
            .header("x-csrf-token", &csrf)
            .body(Body::from(body))
            .unwrap()
    };
    let created = send(
        &fixture,
        post(r#"{"kind":"address","value":"203.0.113.66","reason":"scanner"}"#.into()),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    for (body, message) in [
        (
            r#"{"kind":"address","value":"203.0.113.67"}"#,
            "give a reason",
        ),
        (
            r#"{"kind":"path","value":"/x","reason":"r"}"#,
            "unknown kind \"path\"",
        ),
        (
            r#"{"kind":"jti","value":"j","iss":"https://i","reason":"r"}"#,
            "only qualifies an identity",
        ),
    ] {
        let response = send(&fixture, post(body.into())).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(json_text(&text(response).await).contains(message), "{body}");
    }
    // The page form writes the same file.
    let form = send(
        &fixture,
        Request::post("/watchlist")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &admin)
            .body(Body::from(format!(
                "csrf={csrf}&kind=client&value=rogue-client&iss=&reason=leaked+secret"
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    let file = Watchlist::load(&data).unwrap();
    let kinds: Vec<EntryKind> = file.entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EntryKind::Identity, EntryKind::Address, EntryKind::Client]
    );
    assert_eq!(file.entries[2].reason, "leaked secret");
    assert_eq!(file.entries[2].added_by, "alice");

    for format in tokentrail_index::analytics::banlist::FORMATS {
        let response = get(
            &fixture,
            &format!("/api/v1/watchlist/export?format={format}"),
            &admin,
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{format}");
        assert!(response.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename="));
        let body = text(response).await;
        if *format == "nftables" {
            assert!(body.contains("203.0.113.66"), "{body}");
        }
        if *format == "gplazma" {
            assert!(body.contains(&format!("ban oidc:{SUB}@")), "{body}");
        }
    }
    let bad = get(&fixture, "/api/v1/watchlist/export?format=xml", &admin).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(json_text(&text(bad).await).contains("unknown export format \"xml\""));

    let delete = send(
        &fixture,
        Request::delete(format!("/api/v1/watchlist/{id}"))
            .header(header::COOKIE, &admin)
            .header("x-csrf-token", &csrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert_eq!(Watchlist::load(&data).unwrap().entries.len(), 2);
}

#[tokio::test]
async fn alerts_show_a_banner_until_acknowledged() {
    use tokentrail_index::analytics::{EntryKind, WatchEntry, Watcher, Watchlist};
    let fixture = fixture();
    let (session, csrf) = login(&fixture, "victor").await;
    let home = text(get(&fixture, "/", &session).await).await;
    assert!(!home.contains("id=\"alert-banner\""));
    // Ingest raises an alert on a hostile event.
    let mut list = Watchlist::default();
    list.add(WatchEntry {
        kind: EntryKind::Address,
        value: "203.0.113.66".into(),
        iss: String::new(),
        reason: format!("scanner {XSS}"),
        added: Timestamp(0),
        added_by: String::new(),
    });
    let mut watcher = Watcher::new(&list, Some(&fixture.config.data_dir), None);
    let mut hit = event("a1", 1_741_600_300_000, "file.read");
    hit.client_ip = "203.0.113.66".into();
    hit.origin.file = format!("se01/{XSS}");
    assert_eq!(watcher.check(&[hit]).len(), 1);

    let home = text(get(&fixture, "/search?q=x", &session).await).await;
    assert!(
        home.contains("id=\"alert-banner\" role=\"alert\" data-unseen=\"1\""),
        "{home}"
    );
    let alerts_page = text(get(&fixture, "/alerts", &session).await).await;
    assert_no_raw_markup(&alerts_page, "/alerts");
    assert!(alerts_page.contains("scanner &lt;script&gt;"));
    assert!(alerts_page.contains("href=\"/trace?ip=203.0.113.66\""));
    let api = json_of(get(&fixture, "/api/v1/alerts", &session).await).await;
    assert_eq!(api["unseen"], 1);
    assert_eq!(api["alerts"][0]["entry"]["value"], "203.0.113.66");

    let ack = |token: &str| {
        Request::post("/alerts/ack")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &session)
            .body(Body::from(format!("csrf={token}")))
            .unwrap()
    };
    assert_eq!(
        send(&fixture, ack("wrong")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&fixture, ack(&csrf)).await.status(),
        StatusCode::SEE_OTHER
    );
    let home = text(get(&fixture, "/", &session).await).await;
    assert!(
        !home.contains("id=\"alert-banner\""),
        "banner after acknowledging"
    );
    let api = json_of(get(&fixture, "/api/v1/alerts", &session).await).await;
    assert_eq!(api["unseen"], 0);
    // Another user has not seen it.
    let (admin, _) = login(&fixture, "alice").await;
    assert!(text(get(&fixture, "/", &admin).await)
        .await
        .contains("id=\"alert-banner\""));
}

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

struct Fixture {
    _dir: tempfile::TempDir,
    config: ServerConfig,
    state: AppState,
}

fn event(id: &str, millis: i64, action: &str) -> Event {
    Event {
        id: id.into(),
        time: Some(Timestamp(millis)),
        action: action.into(),
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
    ] {
        let response = send(&fixture, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri}");
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
                "{{\"kind\":\"jti\",\"value\":\"{JTI}\"}}"
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

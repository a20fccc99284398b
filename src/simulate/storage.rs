//! Storage lines: dCache access log (`dcache-access`, NetLogger `key=value`, WebDAV and xrootd
//! doors), dCache text billing (`dcache-billing`, `MM.dd` dates, pool transfer and door
//! request lines), XRootD `xrootd.log` (`YYMMDD` prefix, `XrootdXeq` login/disc, protocol
//! traces with the tident, `scitokens_` lines) and StoRM WebDAV access and server logs.
//! Each writer copies the shape of an example in `/work/shared/formats/storage.md`.

use std::fmt::Write as _;

use super::core::{base64_unpadded, Ms, Tm};

/// dCache's alias for the IAM issuer in its gPlazma configuration (`user.sub=<sub>@cms`).
pub const DCACHE_ALIAS: &str = "cms";
/// dCache's WebDAV door.
pub const WEBDAV_DOOR: &str = "WebDAV-dcache01@webdav-dcache01Domain";
/// dCache's xrootd door.
pub const XROOTD_DOOR: &str = "Xrootd-dcache01@xrootd-dcache01Domain";
/// dCache's namespace prefix for the VO.
pub const PNFS_PREFIX: &str = "/pnfs/example.org/data/cms";

/// `door:<cell>@<domain>:<base64 of an 8-byte counter>`
pub fn dcache_session(out: &mut String, door: &str, counter: u64) {
    let _ = write!(out, "door:{door}:");
    base64_unpadded(&counter.to_be_bytes(), out);
}

/// `ip:port`, or `[v6]:port`.
pub fn socket(out: &mut String, address: &str, port: u16) {
    if address.contains(':') {
        let _ = write!(out, "[{address}]:{port}");
    } else {
        let _ = write!(out, "{address}:{port}");
    }
}

/// Who a storage request was made as.
pub enum Principal<'a> {
    /// A token: `sub`, `jti`, and the mapped `uid:gid`.
    Token {
        sub: &'a str,
        jti: &'a str,
        uid: u32,
    },
    /// An X.509 DN and the mapped uid.
    Dn { dn: &'a str, uid: u32 },
    /// Nobody (failed authentication).
    Anonymous,
}

/// One WebDAV request at the dCache door.
pub struct WebdavRequest<'a> {
    pub time: Ms,
    pub session: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub client: &'a str,
    pub port: u16,
    pub agent: &'a str,
    pub principal: Principal<'a>,
    /// The transaction (`<session>:<micros>`) for requests that reach a pool.
    pub transaction: Option<&'a str>,
    pub duration: u64,
    pub code: u16,
    pub tpc_source: Option<&'a str>,
}

/// `level=INFO ts=... event=org.dcache.webdav.request session=... request.method=GET ...`
pub fn dcache_webdav(out: &mut String, request: &WebdavRequest<'_>) {
    let level = match request.code {
        500.. => "ERROR",
        400.. => "WARN",
        _ => "INFO",
    };
    let _ = write!(out, "level={level} ts=");
    Tm::from_ms(request.time).dcache(out);
    let _ = write!(
        out,
        " event=org.dcache.webdav.request session={} request.method={} request.url=https://dcache01.example.org:2880{PNFS_PREFIX}{} socket.remote=",
        request.session, request.method, request.path
    );
    socket(out, request.client, request.port);
    if request.agent.contains(' ') {
        let _ = write!(out, " user-agent=\"{}\"", request.agent);
    } else {
        let _ = write!(out, " user-agent={}", request.agent);
    }
    match request.principal {
        Principal::Token { sub, jti, uid } => {
            let _ = write!(
                out,
                " user.sub={sub}@{DCACHE_ALIAS} user.jti={jti}@{DCACHE_ALIAS} user.mapped={uid}:5030"
            );
        }
        Principal::Dn { dn, uid } => {
            let _ = write!(out, " user.dn=\"{dn}\" user.mapped={uid}:5030");
        }
        Principal::Anonymous => out.push_str(" user.mapped=nobody"),
    }
    if let Some(transaction) = request.transaction {
        let _ = write!(out, " transaction={transaction}");
    }
    if let Some(source) = request.tpc_source {
        let _ = write!(
            out,
            " tpc.credential=oidc tpc.require-checksum=true tpc.source={source}"
        );
    }
    let _ = write!(out, " duration={}", request.duration);
    match request.code {
        401 => out.push_str(" response.reason=Unauthorized"),
        403 => out.push_str(" response.reason=Forbidden"),
        _ => {}
    }
    let _ = write!(out, " response.code={}", request.code);
}

fn dcache_prefix(out: &mut String, level: &str, time: Ms, event: &str, session: &str) {
    let _ = write!(out, "level={level} ts=");
    Tm::from_ms(time).dcache(out);
    let _ = write!(out, " event={event} session={session}");
}

/// xrootd door `connection.start`.
pub fn dcache_xrootd_start(out: &mut String, time: Ms, session: &str, client: &str, port: u16) {
    dcache_prefix(
        out,
        "INFO",
        time,
        "org.dcache.xrootd.connection.start",
        session,
    );
    out.push_str(" socket.remote=");
    socket(out, client, port);
    out.push_str(" socket.local=192.0.2.30:1094");
}

/// xrootd door `request=login` with the client's login CGI.
#[allow(clippy::too_many_arguments)]
pub fn dcache_xrootd_login_request(
    out: &mut String,
    time: Ms,
    session: &str,
    unix_user: &str,
    pid: u32,
    app: &str,
    client_host: &str,
    session_hex: &str,
) {
    dcache_prefix(out, "INFO", time, "org.dcache.xrootd.request", session);
    let _ = write!(
        out,
        " request=login username={unix_user} capver=5 pid={pid} token=xrd.cc=us&xrd.tz=1&xrd.appname={app}&xrd.info=&xrd.hostname={client_host}&xrd.rn=v5.6.9 response=ok sessionId={session_hex} sec=&P=ztn,0:4096:"
    );
}

/// xrootd door `org.dcache.xrootd.login` with the token's sub and jti.
pub fn dcache_xrootd_login(
    out: &mut String,
    time: Ms,
    session: &str,
    sub: &str,
    jti: &str,
    uid: u32,
) {
    dcache_prefix(out, "INFO", time, "org.dcache.xrootd.login", session);
    let _ = write!(
        out,
        " user.sub={sub}@{DCACHE_ALIAS} user.jti={jti}@{DCACHE_ALIAS} user.mapped={uid}:5030"
    );
}

/// xrootd door `request=open` (redirected to a pool); `opaque` when the client passed CGI.
pub fn dcache_xrootd_open(
    out: &mut String,
    time: Ms,
    session: &str,
    path: &str,
    opaque: Option<&str>,
    pool: u32,
    uuid: &str,
) {
    dcache_prefix(out, "INFO", time, "org.dcache.xrootd.request", session);
    let _ = write!(out, " request=open path={PNFS_PREFIX}{path}");
    if let Some(opaque) = opaque {
        let _ = write!(out, " opaque={opaque}");
    }
    let _ = write!(
        out,
        " options=0x2010 response=redirect host=pool{pool:02}.example.org port=20555 token=org.dcache.uuid={uuid}"
    );
}

/// xrootd door `connection.end`.
pub fn dcache_xrootd_end(out: &mut String, time: Ms, session: &str) {
    dcache_prefix(
        out,
        "INFO",
        time,
        "org.dcache.xrootd.connection.end",
        session,
    );
}

/// `[pnfsid,size] [/pnfs/...] <storage class>` part of billing lines.
fn billing_file(out: &mut String, pnfsid: &str, size: u64, path: &str) {
    let class = if path.starts_with("/store/user/") {
        "cms:user@osm"
    } else {
        "cms:default@osm"
    };
    let _ = write!(out, "[{pnfsid},{size}] [{PNFS_PREFIX}{path}] {class}");
}

/// Billing pool `transfer` line; `initiator` is the door transaction.
#[allow(clippy::too_many_arguments)]
pub fn billing_pool(
    out: &mut String,
    time: Ms,
    pool: u32,
    pnfsid: &str,
    size: u64,
    path: &str,
    millis: u64,
    write: bool,
    protocol_xrootd: bool,
    client: &str,
    port: u16,
    initiator: &str,
) {
    Tm::from_ms(time).billing(out);
    let _ = write!(out, " [pool:pool{pool:02}:transfer] ");
    billing_file(out, pnfsid, size, path);
    let _ = write!(out, " {size} {millis} {write} {{");
    if protocol_xrootd {
        let _ = write!(out, "Xrootd-5.0:{client}:{port}");
    } else {
        let _ = write!(
            out,
            "Https-1.1:{client}:{port}:WebDAV-dcache01:webdav-dcache01Domain:{PNFS_PREFIX}{path}"
        );
    }
    let _ = write!(out, "}} [{initiator}] {{0:\"\"}}");
}

/// Billing door `request` line (owner, uid, gid, client; no transaction).
#[allow(clippy::too_many_arguments)]
pub fn billing_door(
    out: &mut String,
    time: Ms,
    xrootd: bool,
    owner: &str,
    uid: u32,
    client: &str,
    pnfsid: &str,
    size: u64,
    path: &str,
    millis: u64,
) {
    Tm::from_ms(time).billing(out);
    let door = if xrootd { XROOTD_DOOR } else { WEBDAV_DOOR };
    let _ = write!(
        out,
        " [door:{door}:request] [\"{owner}\":{uid}:5030:{client}] "
    );
    billing_file(out, pnfsid, size, path);
    let _ = write!(out, " {millis} 0 {{0:\"\"}}");
}

fn xrootd_prefix(out: &mut String, time: Ms, thread: u32) {
    Tm::from_ms(time).xrootd(out);
    let _ = write!(out, " {thread} ");
}

/// `XrootdXeq: <tident> pub IPv4 TLSv1.3 login as <sub>` (ztn) or `... login` (no strong auth).
pub fn xrootd_login(
    out: &mut String,
    time: Ms,
    thread: u32,
    tident: &str,
    ipv6: bool,
    name: Option<&str>,
) {
    xrootd_prefix(out, time, thread);
    let family = if ipv6 { "IPv6" } else { "IPv4" };
    let _ = write!(out, "XrootdXeq: {tident} pub {family} TLSv1.3 login");
    if let Some(name) = name {
        let _ = write!(out, " as {name}");
    }
}

/// `XrootdXeq: <tident> disc H:MM:SS`
pub fn xrootd_disc(out: &mut String, time: Ms, thread: u32, tident: &str, seconds: i64) {
    xrootd_prefix(out, time, thread);
    let _ = write!(
        out,
        "XrootdXeq: {tident} disc {}:{:02}:{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    );
}

/// `scitokens_Access: <message>` (no tident).
pub fn xrootd_scitokens(out: &mut String, time: Ms, thread: u32, suffix: &str, message: &str) {
    xrootd_prefix(out, time, thread);
    let _ = write!(out, "scitokens_{suffix}: {message}");
}

/// `scitokens_Access: New valid token mapped_username=..., subject=..., issuer=..., ...`
pub fn xrootd_new_token(
    out: &mut String,
    time: Ms,
    thread: u32,
    local_user: &str,
    sub: &str,
    iss: &str,
    username: &str,
) {
    xrootd_prefix(out, time, thread);
    let _ = write!(
        out,
        "scitokens_Access: New valid token mapped_username={local_user}, subject={sub}, issuer={iss}, groups=/cms, authorizations=/store/user/{username}:create,mkdir,update;/store:read,dir,stat"
    );
}

/// `<tident> Xrootd_Protocol: open r <path>` / `open wn <path>`
pub fn xrootd_open(out: &mut String, time: Ms, thread: u32, tident: &str, write: bool, path: &str) {
    xrootd_prefix(out, time, thread);
    let mode = if write { "wn" } else { "r" };
    let _ = write!(out, "{tident} Xrootd_Protocol: open {mode} {path}");
}

/// `<tident> Xrootd_Protocol:  fh=0 close rc=0`
pub fn xrootd_close(out: &mut String, time: Ms, thread: u32, tident: &str) {
    xrootd_prefix(out, time, thread);
    let _ = write!(out, "{tident} Xrootd_Protocol:  fh=0 close rc=0");
}

/// StoRM WebDAV access line.
#[allow(clippy::too_many_arguments)]
pub fn storm_access(
    out: &mut String,
    time: Ms,
    client: &str,
    user: &str,
    request_id: &str,
    method: &str,
    path: &str,
    status: u16,
    bytes: Option<u64>,
    millis: u64,
) {
    let _ = write!(out, "{client} 8443 \"{user}\" ");
    Tm::from_ms(time).iso_z_ms(out);
    let _ = write!(
        out,
        " \"{request_id}\" \"{method} /cms{path} HTTP/1.1\" {status} "
    );
    match bytes {
        Some(bytes) => {
            let _ = write!(out, "{bytes}");
        }
        None => out.push('-'),
    }
    let _ = write!(out, " {millis}");
}

/// StoRM server log, TPC pull requested / completed (FTS ClientInfo in the level field).
#[allow(clippy::too_many_arguments)]
pub fn storm_tpc(
    out: &mut String,
    time: Ms,
    request_id: &str,
    fts_job: &str,
    file_id: u64,
    source: &str,
    path: &str,
    done: Option<(u64, u64)>,
    transfer_id: &str,
) {
    Tm::from_ms(time).iso_z_ms(out);
    let _ = write!(
        out,
        " [{request_id}] job-id:{fts_job},file-id:{file_id},retry:0  INFO 2311 --- [qtp1784131088-87] o.i.storm.webdav.tpc.TransferFilter      : "
    );
    match done {
        None => {
            let _ = write!(
                out,
                "Pull third-party transfer requested: Source: {source}, Destination: /cms{path}, hasAuthorizationHeader: true, id: {transfer_id}"
            );
        }
        Some((bytes, millis)) => {
            let rate = bytes / 1_000_000 / (millis / 1000).max(1);
            let _ = write!(
                out,
                "Pull third-party transfer completed: DONE. Source: {source}, Destination: /cms{path}, Bytes transferred: {bytes}, Duration (msec): {millis}, Throughput: {rate} MB/sec, id: {transfer_id}"
            );
        }
    }
}

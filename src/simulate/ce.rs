//! Compute-element and batch lines: HTCondor-CE `AuditLog` (`(cid:N)` lines), `JobRouterLog`,
//! `history` ads (CE and routed batch jobs, banner after each ad), the batch `EventLog`
//! (ISO_DATE, events ending in `...`), `ShadowLog`, and ARC CE `arex-jobs.log`, `arex.log`,
//! `ws-interface.log` and the per-job `job.<id>.local` / `job.<id>.diag` control files.
//! Each writer copies the shape of an example in `/work/shared/formats/ce.md` (§2, §4, §5,
//! §7, §9). Daemon-log times are `MM/DD/YY HH:MM:SS`, the site's local time (UTC).

use std::fmt::Write as _;

use super::core::{Ms, Tm};
use super::issuer::{jwt_payload, Token};

/// Marker replaced by the byte offset of the ad when a history record is written.
pub const OFFSET_MARK: char = '\u{0}';

fn daemon_time(out: &mut String, time: Ms) {
    Tm::from_ms(time).condor(out);
    out.push(' ');
}

/// A1: `(cid:N) Examining SciToken with payload {...}.`
pub fn examining(out: &mut String, time: Ms, cid: u64, token: &Token) {
    daemon_time(out, time);
    let _ = write!(out, "(cid:{cid}) Examining SciToken with payload ");
    jwt_payload(out, token);
    out.push('.');
}

/// A1 with a foreign payload given verbatim (noise).
pub fn examining_raw(out: &mut String, time: Ms, cid: u64, payload: &str) {
    daemon_time(out, time);
    let _ = write!(
        out,
        "(cid:{cid}) Examining SciToken with payload {payload}."
    );
}

/// A3: `(cid:N) Command=QMGMT_WRITE_CMD, peer=<ip:port>`
pub fn command(out: &mut String, time: Ms, cid: u64, command: &str, peer: &str, port: u16) {
    daemon_time(out, time);
    let _ = write!(out, "(cid:{cid}) Command={command}, peer=<{peer}:{port}>");
}

/// A4: `(cid:N) AuthMethod=SCITOKENS, AuthId=<iss>,<sub>, CondorId=<user>@users.htcondor.org`
pub fn auth_method(out: &mut String, time: Ms, cid: u64, iss: &str, sub: &str, local_user: &str) {
    daemon_time(out, time);
    let _ = write!(
        out,
        "(cid:{cid}) AuthMethod=SCITOKENS, AuthId={iss},{sub}, CondorId={local_user}@users.htcondor.org"
    );
}

/// A5: `(cid:N) Authentication Failed, MethodsTried=SCITOKENS,SSL`
pub fn auth_failed(out: &mut String, time: Ms, cid: u64) {
    daemon_time(out, time);
    let _ = write!(
        out,
        "(cid:{cid}) Authentication Failed, MethodsTried=SCITOKENS,SSL"
    );
}

/// A7: `(cid:N) Submitting new job C.P`
pub fn submitting(out: &mut String, time: Ms, cid: u64, cluster: u64, proc_id: u32) {
    daemon_time(out, time);
    let _ = write!(out, "(cid:{cid}) Submitting new job {cluster}.{proc_id}");
}

/// A11: `(cid:N) Transferring files for jobs C.0, C.1`
pub fn transferring(out: &mut String, time: Ms, cid: u64, cluster: u64, procs: u32) {
    daemon_time(out, time);
    let _ = write!(out, "(cid:{cid}) Transferring files for jobs ");
    for proc_id in 0..procs {
        if proc_id > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{cluster}.{proc_id}");
    }
}

/// A10: `(cid:N) Remove jobs C.P` or `(cid:N) Finished Remove jobs C.P`
pub fn remove(out: &mut String, time: Ms, cid: u64, cluster: u64, proc_id: u32, finished: bool) {
    daemon_time(out, time);
    let finished = if finished { "Finished " } else { "" };
    let _ = write!(out, "(cid:{cid}) {finished}Remove jobs {cluster}.{proc_id}");
}

/// JobRouterLog: `JobRouter (src=C.P[,dest=C.P],route=Condor_Pool): <message>`
pub fn router(out: &mut String, time: Ms, src: (u64, u32), dest: Option<u64>, message: &str) {
    daemon_time(out, time);
    let _ = write!(out, "JobRouter (src={}.{}", src.0, src.1);
    if let Some(dest) = dest {
        let _ = write!(out, ",dest={dest}.0");
    }
    let _ = write!(out, ",route=Condor_Pool): {message}");
}

/// A startd's sinful string.
pub fn startd_sinful(out: &mut String, address: &str, host: &str, pid: u32) {
    let _ = write!(
        out,
        "<{address}:9618?addrs={address}-9618&alias={host}&noUDP&sock=startd_{pid}_{:04x}>",
        pid.wrapping_mul(2_654_435_761) >> 16
    );
}

/// What a history ad or event needs to know about one job.
pub struct JobAd<'a> {
    pub ce_host: &'a str,
    pub cluster: u64,
    pub proc_id: u32,
    pub batch_cluster: u64,
    pub owner: &'a str,
    pub token: &'a Token,
    pub queued: Ms,
    /// (start, end, worker node name, worker node address, slot, startd pid) when it ran.
    pub run: Option<(Ms, Ms, &'a str, &'a str, u32, u32)>,
    pub removed_at: Option<Ms>,
}

fn token_attributes(out: &mut String, prefix: &str, token: &Token) {
    let _ = writeln!(
        out,
        "{prefix}AuthTokenGroups = \"{}\"",
        token.groups.join(",")
    );
    let _ = writeln!(out, "{prefix}AuthTokenId = \"{}\"", token.jti);
    let _ = writeln!(out, "{prefix}AuthTokenIssuer = \"{}\"", token.iss);
    let _ = writeln!(
        out,
        "{prefix}AuthTokenScopes = \"{}\"",
        token.scope.replace(' ', ",")
    );
    let _ = writeln!(out, "{prefix}AuthTokenSubject = \"{}\"", token.sub);
}

fn banner(
    out: &mut String,
    cluster: u64,
    proc_id: u32,
    owner: &str,
    completion: i64,
    written: i64,
) {
    let _ = write!(
        out,
        "*** Offset = {OFFSET_MARK} ClusterId = {cluster} ProcId = {proc_id} Owner = \"{owner}\" CompletionDate = {completion} CurrentTime = {written}"
    );
}

/// The CE job's ad in the CE `history` file (GlobalJobId first, banner last).
pub fn ce_history(out: &mut String, ad: &JobAd<'_>, written: Ms) {
    let queued = ad.queued / 1000;
    let _ = writeln!(
        out,
        "GlobalJobId = \"{}#{}.{}#{queued}\"",
        ad.ce_host, ad.cluster, ad.proc_id
    );
    token_attributes(out, "", ad.token);
    let _ = writeln!(out, "ClusterId = {}", ad.cluster);
    let (status, completion, entered) = status_times(ad);
    let _ = writeln!(out, "CompletionDate = {completion}");
    let _ = writeln!(out, "EnteredCurrentStatus = {entered}");
    let _ = writeln!(out, "JobStatus = {status}");
    let _ = writeln!(out, "Owner = \"{}\"", ad.owner);
    let _ = writeln!(out, "ProcId = {}", ad.proc_id);
    let _ = writeln!(out, "QDate = {queued}");
    if status == 3 {
        let _ = writeln!(
            out,
            "RemoveReason = \"via condor_rm (by user {})\"",
            ad.owner
        );
    }
    let _ = writeln!(out, "RoutedToJobId = \"{}.0\"", ad.batch_cluster);
    let _ = writeln!(out, "User = \"{}@users.htcondor.org\"", ad.owner);
    banner(
        out,
        ad.cluster,
        ad.proc_id,
        ad.owner,
        completion,
        written / 1000,
    );
}

fn status_times(ad: &JobAd<'_>) -> (u32, i64, i64) {
    match (ad.run, ad.removed_at) {
        (Some((_, end, ..)), _) => (4, end / 1000, end / 1000),
        (None, Some(removed)) => (3, 0, removed / 1000),
        (None, None) => (4, 0, ad.queued / 1000),
    }
}

/// The routed job's ad in the batch schedd's `history` file.
pub fn batch_history(out: &mut String, ad: &JobAd<'_>, routed: Ms, written: Ms) {
    let _ = writeln!(
        out,
        "GlobalJobId = \"{}#{}.0#{}\"",
        ad.ce_host,
        ad.batch_cluster,
        routed / 1000
    );
    let _ = writeln!(out, "ClusterId = {}", ad.batch_cluster);
    let (status, completion, entered) = status_times(ad);
    let _ = writeln!(out, "CompletionDate = {completion}");
    let _ = writeln!(out, "EnteredCurrentStatus = {entered}");
    if let Some((start, end, host, address, slot, pid)) = ad.run {
        let _ = writeln!(out, "JobCurrentStartDate = {}", start / 1000);
        let _ = writeln!(out, "JobStartDate = {}", start / 1000);
        let _ = writeln!(out, "JobStatus = {status}");
        let _ = writeln!(out, "LastRemoteHost = \"slot1_{slot}@{host}\"");
        let _ = writeln!(out, "Owner = \"{}\"", ad.owner);
        let _ = writeln!(out, "ProcId = 0");
        let _ = writeln!(out, "QDate = {}", routed / 1000);
        let _ = writeln!(out, "RemoteWallClockTime = {}.0", (end - start) / 1000);
        route_attributes(out, ad);
        out.push_str("StartdIpAddr = \"");
        startd_sinful(out, address, host, pid);
        out.push_str("\"\n");
    } else {
        let _ = writeln!(out, "JobStatus = {status}");
        let _ = writeln!(out, "Owner = \"{}\"", ad.owner);
        let _ = writeln!(out, "ProcId = 0");
        let _ = writeln!(out, "QDate = {}", routed / 1000);
        route_attributes(out, ad);
    }
    token_attributes(out, "orig_", ad.token);
    banner(
        out,
        ad.batch_cluster,
        0,
        ad.owner,
        completion,
        written / 1000,
    );
}

fn route_attributes(out: &mut String, ad: &JobAd<'_>) {
    out.push_str("RouteName = \"Condor_Pool\"\nRoutedBy = \"htcondor-ce\"\n");
    let _ = writeln!(out, "RoutedFromJobId = \"{}.{}\"", ad.cluster, ad.proc_id);
    out.push_str("RoutedJob = true\n");
}

fn event_header(out: &mut String, code: &str, batch_cluster: u64, time: Ms) {
    let _ = write!(out, "{code} ({batch_cluster}.000.000) ");
    Tm::from_ms(time).date_time(out);
    out.push(' ');
}

/// Event 000, submitted from the CE's schedd.
pub fn event_submitted(
    out: &mut String,
    batch_cluster: u64,
    time: Ms,
    ce_address: &str,
    ce_host: &str,
) {
    event_header(out, "000", batch_cluster, time);
    let _ = write!(
        out,
        "Job submitted from host: <{ce_address}:9618?addrs={ce_address}-9618&alias={ce_host}&noUDP&sock=schedd_1450_7c21>\n..."
    );
}

/// Event 001, executing on a worker node's slot.
pub fn event_executing(
    out: &mut String,
    batch_cluster: u64,
    time: Ms,
    host: &str,
    address: &str,
    slot: u32,
    pid: u32,
) {
    event_header(out, "001", batch_cluster, time);
    out.push_str("Job executing on host: ");
    startd_sinful(out, address, host, pid);
    let _ = write!(out, "\n\tSlotName: slot1_{slot}@{host}\n...");
}

/// Event 005, normal termination.
pub fn event_terminated(out: &mut String, batch_cluster: u64, time: Ms) {
    event_header(out, "005", batch_cluster, time);
    out.push_str("Job terminated.\n\t(1) Normal termination (return value 0)\n...");
}

/// Event 009, removed by the owner.
pub fn event_aborted(out: &mut String, batch_cluster: u64, time: Ms, owner: &str) {
    event_header(out, "009", batch_cluster, time);
    let _ = write!(
        out,
        "Job was aborted.\n\tvia condor_rm (by user {owner})\n..."
    );
}

/// Event 028 after another event (`EVENT_LOG_JOB_AD_INFORMATION_ATTRS` with the orig_ token
/// attributes, RoutedFromJobId and RemoteHost).
#[allow(clippy::too_many_arguments)]
pub fn event_ad_information(
    out: &mut String,
    batch_cluster: u64,
    time: Ms,
    token: &Token,
    routed_from: (u64, u32),
    remote_host: Option<(&str, u32)>,
    trigger: (&str, u32),
) {
    event_header(out, "028", batch_cluster, time);
    out.push_str("Job ad information event triggered.\n");
    let _ = writeln!(out, "orig_AuthTokenId = \"{}\"", token.jti);
    let _ = writeln!(out, "orig_AuthTokenIssuer = \"{}\"", token.iss);
    let _ = writeln!(out, "orig_AuthTokenSubject = \"{}\"", token.sub);
    if let Some((host, slot)) = remote_host {
        let _ = writeln!(out, "RemoteHost = \"slot1_{slot}@{host}\"");
    }
    let _ = writeln!(
        out,
        "RoutedFromJobId = \"{}.{}\"",
        routed_from.0, routed_from.1
    );
    let _ = write!(
        out,
        "TriggerEventTypeName = \"{}\"\nTriggerEventTypeNumber = {}\n...",
        trigger.0, trigger.1
    );
}

/// ShadowLog: `(C.P) (PID): Request to run on slot1_N@wn <sinful> was ACCEPTED`
#[allow(clippy::too_many_arguments)]
pub fn shadow_accepted(
    out: &mut String,
    time: Ms,
    batch_cluster: u64,
    shadow_pid: u32,
    host: &str,
    address: &str,
    slot: u32,
    pid: u32,
) {
    daemon_time(out, time);
    let _ = write!(
        out,
        "({batch_cluster}.0) ({shadow_pid}): Request to run on slot1_{slot}@{host} "
    );
    startd_sinful(out, address, host, pid);
    out.push_str(" was ACCEPTED");
}

/// ShadowLog: `(C.P) (PID): Job C.P terminated: exited with status 0`
pub fn shadow_terminated(out: &mut String, time: Ms, batch_cluster: u64, shadow_pid: u32) {
    daemon_time(out, time);
    let _ = write!(
        out,
        "({batch_cluster}.0) ({shadow_pid}): Job {batch_cluster}.0 terminated: exited with status 0"
    );
}

/// What ARC writes about one job.
pub struct ArcJob<'a> {
    pub id: &'a str,
    pub token: &'a Token,
    pub uid: u32,
    pub name: &'a str,
    pub lrms_id: u64,
    pub client: (&'a str, u16),
    pub submitted: Ms,
    pub start: Ms,
    pub end: Ms,
    pub host: &'a str,
}

fn owner(out: &mut String, token: &Token) {
    // ARC concatenates iss + "/" + sub, so IAM's trailing slash gives "//".
    let _ = write!(out, "{}/{}", token.iss, token.sub);
}

/// arex-jobs.log `Started` / `Finished` line.
pub fn arc_jobs_line(out: &mut String, time: Ms, job: &ArcJob<'_>, finished: bool) {
    Tm::from_ms(time).date_time(out);
    let verb = if finished { "Finished" } else { "Started" };
    let _ = write!(
        out,
        " {verb} - job id: {}, unix user: {}:41000, name: \"{}\", owner: \"",
        job.id, job.uid, job.name
    );
    owner(out, job.token);
    out.push_str("\", lrms: slurm, queue: grid");
    if finished {
        let _ = write!(out, ", lrmsid: {}", job.lrms_id);
    }
}

/// arex.log line: `[time] [Arc] [INFO] [2143/4] <id>: <message>`
pub fn arex_line(out: &mut String, time: Ms, id: &str, message: &str) {
    out.push('[');
    Tm::from_ms(time).date_time(out);
    let _ = write!(out, "] [Arc] [INFO] [2143/4] {id}: {message}");
}

/// ws-interface.log line (carries no identity).
pub fn arc_ws_line(out: &mut String, time: Ms, domain: &str, message: &str) {
    out.push('[');
    Tm::from_ms(time).date_time(out);
    let _ = write!(out, "] [{domain}] [INFO] [2210/17] {message}");
}

/// The ARC 6 control file `job.<id>.local` (`globalid` first).
pub fn arc_local(out: &mut String, job: &ArcJob<'_>) {
    let _ = writeln!(out, "globalid={}", job.id);
    out.push_str("headnode=https://arc01.example.org:443/arex\nheadhost=arc01.example.org\ninterface=org.nordugrid.arcrest\nlrms=slurm\nqueue=grid\n");
    let _ = writeln!(out, "localid={}", job.lrms_id);
    out.push_str("subject=");
    owner(out, job.token);
    out.push_str("\nstarttime=");
    Tm::from_ms(job.submitted).mds(out);
    let _ = writeln!(out, "\njobname={}", job.name);
    let _ = writeln!(out, "clientname={}:{}", job.client.0, job.client.1);
    let _ = writeln!(out, "sessiondir=/var/spool/arc/sessiondir/{}", job.id);
    // tokenclaim.* in sorted claim-name order (string claims only).
    for aud in &job.token.aud {
        let _ = writeln!(out, "tokenclaim.aud={aud}");
    }
    let token = job.token;
    let _ = writeln!(out, "tokenclaim.client_id={}", token.client_id);
    let _ = writeln!(out, "tokenclaim.iss={}", token.iss);
    let _ = writeln!(out, "tokenclaim.jti={}", token.jti);
    let _ = writeln!(out, "tokenclaim.scope={}", token.scope);
    let _ = writeln!(out, "tokenclaim.sub={}", token.sub);
    for group in &token.groups {
        let _ = writeln!(out, "tokenclaim.wlcg.groups={group}");
    }
    out.push_str("tokenclaim.wlcg.ver=1.0\npriority=50");
}

/// The control file `job.<id>.diag` written by the LRMS scripts.
pub fn arc_diag(out: &mut String, job: &ArcJob<'_>) {
    let _ = writeln!(out, "nodename={}", job.host);
    let _ = writeln!(out, "WallTime={}s", (job.end - job.start) / 1000);
    out.push_str("exitcode=0\nLRMSStartTime=");
    Tm::from_ms(job.start).mds(out);
    out.push_str("\nLRMSEndTime=");
    Tm::from_ms(job.end).mds(out);
}

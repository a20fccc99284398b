//! `tokentrail simulate`: a coherent synthetic WLCG grid site written in the real log formats,
//! with the ground truth of who did what (`truth.json`).
//!
//! The site: the VO issuer IAM `https://cms-auth.example.org/` and a Keycloak realm; an
//! HTCondor-CE `ce01.example.org` routing to the local batch schedd, worker nodes
//! `wnNNN.example.org` (198.51.100.0/24); an ARC CE `arc01.example.org` over Slurm; dCache
//! `dcache01`, XRootD `xrootd01` and StoRM `storm01`. Pilots (client-credentials tokens) run
//! payloads whose users' exchanged tokens read and write storage from the worker node; users
//! also submit jobs directly and use storage from their desktops; Rucio does third-party
//! copies; X.509 users, scanners and failed logins are the noise a trace must exclude. One
//! user's access token is stolen and used from 203.0.113.66 after the account is disabled.
//!
//! Everything is driven by one seeded PRNG and a time-ordered queue: an activity renders its
//! lines when it starts and schedules them (and follow-up activities) at their times, so every
//! file is written in time order with memory bounded by the activities in flight. All times
//! are UTC, which `truth.json` states as the site's zone.
//!
//! Truth at large scale: with `scale > 4` the evidence of the pilot identities (every line of
//! every pilot and every file operation on the worker nodes) would be most of the corpus, so
//! evidence is recorded only for a sample: the incident's victim, the owners of the
//! non-compliant tokens, the first three users, the first X.509 and Keycloak users and the
//! Rucio service. Identities outside the sample are listed with `"recorded": false` and empty
//! lists; `truth.json` says so in `sample`.

mod ce;
mod core;
mod issuer;
mod sink;
mod storage;
mod truth;

use std::path::PathBuf;

use anyhow::bail;
use chrono::NaiveDate;

use self::core::{rfc3339, Ms, Rng, DAY, HOUR, MINUTE};
use self::issuer::{grant, Token};
use self::sink::{FileId, IdentityId, Queue, Sink, Tags, WnId};
use self::truth::{Kind, Truth};

/// What to simulate and where to write it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output directory (created).
    pub out: PathBuf,
    /// Seed: the same seed gives byte-identical files.
    pub seed: u64,
    /// Number of payload users of the VO.
    pub users: usize,
    /// Number of simulated days.
    pub days: u32,
    /// First day (00:00 UTC).
    pub start: NaiveDate,
    /// Activity multiplier: 1.0 is a small realistic site; larger values write more.
    pub scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            out: PathBuf::from("tokentrail-sim"),
            seed: 1,
            users: 20,
            days: 1,
            start: NaiveDate::from_ymd_opt(2025, 3, 10).expect("valid date"),
            scale: 1.0,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Number of files written (logs; `truth.json` not counted).
    pub files: usize,
    /// Bytes written to the logs.
    pub bytes: u64,
    /// Lines written to the logs.
    pub lines: u64,
    /// Identities whose evidence `truth.json` records.
    pub identities: usize,
}

/// Sub-directory of `--out` that holds the logs (one directory per host); `truth.json`
/// stands beside it, so `tokentrail ingest OUT/logs` reads logs only.
pub const LOGS_DIR: &str = "logs";

/// Writes the simulated site under `options.out`; returns what was written.
pub fn run(options: &Options) -> anyhow::Result<Summary> {
    if options.users == 0 || options.days == 0 {
        bail!("simulate needs at least one user and one day");
    }
    if !(options.scale > 0.0 && options.scale.is_finite()) {
        bail!("scale must be a positive number, got {}", options.scale);
    }
    let mut site = Site::new(options)?;
    site.run()?;
    let (files, bytes, lines) = site.sink.finish()?;
    let identities = site
        .truth
        .identities
        .iter()
        .filter(|identity| identity.recorded)
        .count();
    site.truth
        .write(&site.sink, &options.out.join("truth.json"))?;
    Ok(Summary {
        files,
        bytes,
        lines,
        identities,
    })
}

const IAM_ISS: &str = "https://cms-auth.example.org/";
const KEYCLOAK_ISS: &str = "https://aai.example.org/auth/realms/egi";
const OTHER_VO_ISS: &str = "https://wlcg.cloud.cnaf.infn.it/";
const OUTSIDE_IP: &str = "203.0.113.66";
const CE_HOST: &str = "ce01.example.org";
const CE_IP: &str = "192.0.2.20";
const VAULT_CLIENT: &str = "cms-vault-prod";
const VAULT_IP: &str = "192.0.2.45";
const WMS_IP: &str = "192.0.2.60";
const FTS_IP: &str = "192.0.2.40";
const FACTORY_IP: &str = "192.0.2.50";
const RUCIO_IP: &str = "192.0.2.41";
const SCANNER_IP: &str = "198.51.100.251";
const ANY_AUD: &str = "https://wlcg.cern.ch/jwt/v1/any";
const STORAGE_AUD: [&str; 3] = [
    "https://dcache01.example.org",
    "https://xrootd01.example.org",
    "https://storm01.example.org",
];
const COMPUTE_SCOPES: &str = "compute.create compute.read compute.modify compute.cancel";
const SURNAMES: [&str; 24] = [
    "doe", "roe", "smith", "jones", "garcia", "muller", "rossi", "dubois", "novak", "silva", "kim",
    "tanaka", "nowak", "jensen", "berg", "costa", "weber", "moreau", "ricci", "fischer", "horvat",
    "lopez", "meyer", "bauer",
];
const AGENTS: [&str; 3] = ["gfal2/2.23.2", "curl/7.76.1", "python-requests/2.31.0"];

/// The fixed log files.
struct Files {
    iam: FileId,
    keycloak: FileId,
    audit: FileId,
    router: FileId,
    ce_history: FileId,
    batch_history: FileId,
    event_log: FileId,
    shadow: FileId,
    arex_jobs: FileId,
    arex: FileId,
    arc_ws: FileId,
    dcache_access: FileId,
    xrootd: FileId,
    storm_access: FileId,
    storm_server: FileId,
    /// `billing-YYYY.MM.DD`, one per day (plus one for jobs ending after the last day).
    billing: Vec<FileId>,
}

struct User {
    id: IdentityId,
    username: String,
    sub: String,
    local_user: String,
    uid: u32,
    desktop: String,
    groups: Vec<String>,
    access: Option<Token>,
    refresh: Option<String>,
    /// No own activity from this time on (the incident's victim).
    quiet_from: Ms,
}

struct Pilot {
    id: IdentityId,
    iss: &'static str,
    client: String,
    local_user: &'static str,
    token: Option<Token>,
    /// jti of the token that established the current CE security session.
    session_jti: String,
    mean_interval: Ms,
}

struct X509User {
    id: IdentityId,
    dn: String,
    username: String,
    uid: u32,
    desktop: String,
}

struct KeycloakUser {
    id: IdentityId,
    sub: String,
    desktop: String,
    session: String,
    refresh: String,
}

struct WorkerNode {
    name: String,
    address: String,
    startd_pid: u32,
}

/// Who performs a storage operation, from where.
#[derive(Clone)]
struct Actor {
    identity: IdentityId,
    /// Token `sub` and `jti`, or an X.509 DN in `sub` with an empty `jti`.
    sub: String,
    jti: String,
    iss: &'static str,
    username: String,
    uid: u32,
    /// Mapped owner name in billing (local user, or DN).
    owner: String,
    unix_user: String,
    address: String,
    host: String,
    worker_node: Option<WnId>,
    incident: bool,
    raw_token: Option<String>,
}

enum Act {
    Factory(usize),
    Payload {
        pilot: usize,
        worker_node: WnId,
        until: Ms,
    },
    Desktop(usize),
    DirectJob(usize),
    Fts(usize),
    Rucio,
    X509(usize),
    Keycloak(usize),
    Noise,
    Incident,
}

enum Item {
    Line {
        file: FileId,
        text: String,
        tags: Tags,
        history: bool,
    },
    Running {
        worker_node: WnId,
        identity: IdentityId,
        on: bool,
    },
    Act(Act),
}

struct Site {
    rng: Rng,
    sink: Sink,
    truth: Truth,
    queue: Queue<Item>,
    files: Files,
    start: Ms,
    end: Ms,
    scale: f64,
    users: Vec<User>,
    pilots: Vec<Pilot>,
    rucio: (IdentityId, String, Option<Token>),
    x509: Vec<X509User>,
    keycloak: Vec<KeycloakUser>,
    worker_nodes: Vec<WorkerNode>,
    wms_client: String,
    fts_client: String,
    victim: usize,
    incident_at: Ms,
    next_cid: u64,
    next_cluster: u64,
    next_batch: u64,
    next_slurm: u64,
    next_file_id: u64,
}

/// What kind of storage operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Delete,
    List,
}

impl Site {
    fn new(options: &Options) -> anyhow::Result<Site> {
        let mut rng = Rng::new(options.seed);
        let mut sink = Sink::new(&options.out.join(LOGS_DIR))?;
        let start = options
            .start
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis();
        let end = start + i64::from(options.days) * DAY;
        let mut billing = Vec::new();
        for day in 0..=options.days {
            let tm = core::Tm::from_ms(start + i64::from(day) * DAY);
            billing.push(sink.file(&format!(
                "dcache01.example.org/dcache/billing/billing-{:04}.{:02}.{:02}",
                tm.year, tm.month, tm.day
            ))?);
        }
        let files = Files {
            iam: sink.file("cms-auth.example.org/iam/iam-audit.log")?,
            keycloak: sink.file("aai.example.org/keycloak/keycloak.log")?,
            audit: sink.file("ce01.example.org/condor-ce/AuditLog")?,
            router: sink.file("ce01.example.org/condor-ce/JobRouterLog")?,
            ce_history: sink.file("ce01.example.org/condor-ce/spool/history")?,
            batch_history: sink.file("ce01.example.org/condor/spool/history")?,
            event_log: sink.file("ce01.example.org/condor/EventLog")?,
            shadow: sink.file("ce01.example.org/condor/ShadowLog")?,
            arex_jobs: sink.file("arc01.example.org/arex-jobs.log")?,
            arex: sink.file("arc01.example.org/arex.log")?,
            arc_ws: sink.file("arc01.example.org/ws-interface.log")?,
            dcache_access: sink.file("dcache01.example.org/dcache/webdav-door.access")?,
            xrootd: sink.file("xrootd01.example.org/xrootd/xrootd.log")?,
            storm_access: sink.file("storm01.example.org/storm-webdav-server-access.log")?,
            storm_server: sink.file("storm01.example.org/storm-webdav-server.log")?,
            billing,
        };

        let full = options.scale <= 4.0;
        let victim = rng.below(options.users as u64) as usize;
        let noncompliant_users: Vec<usize> = (1..=3)
            .map(|k| (victim + k) % options.users)
            .filter(|&index| index != victim)
            .collect();
        let mut truth = Truth::new(worker_node_count(options.scale));
        if !full {
            truth.sample_note = Some(format!(
                "scale {} > 4: evidence recorded only for identities with \"recorded\": true \
                 (victim, owners of non-compliant tokens, first three users, first X.509 and \
                 Keycloak users, Rucio)",
                options.scale
            ));
        }

        let mut users = Vec::new();
        for index in 0..options.users {
            let surname = SURNAMES[index % SURNAMES.len()];
            let initial = (b'a' + (index / SURNAMES.len() % 26) as u8) as char;
            let username = if index < SURNAMES.len() * 26 {
                format!("{initial}{surname}")
            } else {
                format!("{initial}{surname}{index}")
            };
            let sub = rng.uuid();
            let recorded =
                full || index == victim || index < 3 || noncompliant_users.contains(&index);
            let id = truth.add(IAM_ISS, &sub, &username, Kind::User, recorded);
            let desktop = if index % 4 == 3 {
                format!("2001:db8:1::{:x}", 0x100 + index)
            } else {
                format!("192.0.2.{}", 100 + index % 100)
            };
            let mut groups = vec!["/cms".to_string()];
            if index % 3 == 0 {
                groups.push("/cms/uscms".to_string());
            }
            users.push(User {
                id,
                username,
                sub,
                local_user: format!("cmsusr{:02}", index + 1),
                uid: 50_001 + index as u32,
                desktop,
                groups,
                access: None,
                refresh: None,
                quiet_from: Ms::MAX,
            });
        }

        let cms_pilot_client = rng.uuid();
        let id = truth.add(
            IAM_ISS,
            &cms_pilot_client,
            &cms_pilot_client,
            Kind::Pilot,
            full,
        );
        let other_pilot_sub = rng.uuid();
        let other_id = truth.add(
            OTHER_VO_ISS,
            &other_pilot_sub,
            &other_pilot_sub,
            Kind::Pilot,
            full,
        );
        let pilots = vec![
            Pilot {
                id,
                iss: IAM_ISS,
                client: cms_pilot_client,
                local_user: "cmspilot",
                token: None,
                session_jti: String::new(),
                mean_interval: 12 * MINUTE,
            },
            Pilot {
                id: other_id,
                iss: OTHER_VO_ISS,
                client: other_pilot_sub,
                local_user: "wlcgpilot",
                token: None,
                session_jti: String::new(),
                mean_interval: 40 * MINUTE,
            },
        ];

        let rucio_client = rng.uuid();
        let rucio_id = truth.add(IAM_ISS, &rucio_client, &rucio_client, Kind::Service, true);

        let mut x509 = Vec::new();
        for (index, name) in ["Jane Roe", "Piotr Kowalski"].iter().enumerate() {
            let serial = 100_000 + rng.below(900_000);
            let dn = format!("/DC=org/DC=example/OU=People/CN={name} {serial}");
            let username = format!("x509usr{:02}", index + 1);
            let id = truth.add("", &dn, &username, Kind::X509, full || index == 0);
            x509.push(X509User {
                id,
                dn,
                username,
                uid: 51_001 + index as u32,
                desktop: format!("192.0.2.{}", 210 + index),
            });
        }

        let mut keycloak = Vec::new();
        for (index, name) in ["egi-alice", "egi-bob"].iter().enumerate() {
            let sub = rng.uuid();
            let id = truth.add(KEYCLOAK_ISS, &sub, name, Kind::User, full || index == 0);
            keycloak.push(KeycloakUser {
                id,
                sub,
                desktop: format!("2001:db8:2::{:x}", 0x20 + index),
                session: rng.uuid(),
                refresh: rng.uuid(),
            });
        }

        let worker_nodes = (0..worker_node_count(options.scale))
            .map(|index| WorkerNode {
                name: format!("wn{:03}.example.org", index + 1),
                address: format!("198.51.100.{}", index + 1),
                startd_pid: 1500 + rng.below(3000) as u32,
            })
            .collect();

        let incident_day = i64::from(options.days / 2);
        let incident_at = start + incident_day * DAY + 9 * HOUR + rng.range(0, 10 * MINUTE);
        users[victim].quiet_from = incident_at - HOUR;

        let wms_client = rng.uuid();
        let fts_client = rng.uuid();
        let mut site = Site {
            rng,
            sink,
            truth,
            queue: Queue::new(),
            files,
            start,
            end,
            scale: options.scale,
            users,
            pilots,
            rucio: (rucio_id, rucio_client, None),
            x509,
            keycloak,
            worker_nodes,
            wms_client,
            fts_client,
            victim,
            incident_at,
            next_cid: 48_000,
            next_cluster: 1_500,
            next_batch: 88_000,
            next_slurm: 7_734_000,
            next_file_id: 3_141_592_000,
        };
        site.schedule_noncompliant(&noncompliant_users);
        Ok(site)
    }

    // ----------------------------------------------------------------------------------
    // Queue plumbing

    fn buffer(&mut self) -> String {
        self.sink.buffer()
    }

    fn line(&mut self, file: FileId, time: Ms, tags: Tags, text: String) {
        self.queue.push(
            time,
            Item::Line {
                file,
                text,
                tags,
                history: false,
            },
        );
    }

    fn history(&mut self, file: FileId, time: Ms, tags: Tags, text: String) {
        self.queue.push(
            time,
            Item::Line {
                file,
                text,
                tags,
                history: true,
            },
        );
    }

    fn later(&mut self, time: Ms, act: Act) {
        if time < self.end {
            self.queue.push(time, Item::Act(act));
        }
    }

    /// Next arrival of a process with `mean` interval at scale 1.
    fn next_arrival(&mut self, now: Ms, mean: Ms) -> Ms {
        now + self.rng.exp_ms(mean as f64 / self.scale)
    }

    fn run(&mut self) -> anyhow::Result<()> {
        let start = self.start;
        for index in 0..self.pilots.len() {
            let at = start + self.rng.range(0, 5 * MINUTE);
            self.later(at, Act::Factory(index));
        }
        for index in 0..self.users.len() {
            let desktop = self.next_arrival(start, 2 * HOUR);
            self.later(desktop, Act::Desktop(index));
            let job = self.next_arrival(start, 6 * HOUR);
            self.later(job, Act::DirectJob(index));
            let fts = self.next_arrival(start, 8 * HOUR);
            self.later(fts, Act::Fts(index));
        }
        let rucio = self.next_arrival(start, 15 * MINUTE);
        self.later(rucio, Act::Rucio);
        for index in 0..self.x509.len() {
            let at = self.next_arrival(start, 3 * HOUR);
            self.later(at, Act::X509(index));
        }
        for index in 0..self.keycloak.len() {
            let at = self.next_arrival(start, 4 * HOUR);
            self.later(at, Act::Keycloak(index));
        }
        let noise = self.next_arrival(start, 3 * MINUTE);
        self.later(noise, Act::Noise);
        let incident = self.incident_at - 5 * MINUTE;
        self.later(incident, Act::Incident);

        while let Some(entry) = self.queue.pop() {
            match entry.item {
                Item::Line {
                    file,
                    mut text,
                    tags,
                    history,
                } => {
                    if history {
                        if let Some(at) = text.find(ce::OFFSET_MARK) {
                            let offset = self.sink.offset(file).to_string();
                            text.replace_range(at..at + 1, &offset);
                        }
                    }
                    let line = self.sink.append(file, &text)?;
                    self.truth.record(file, line, &tags);
                    self.sink.recycle(text);
                }
                Item::Running {
                    worker_node,
                    identity,
                    on,
                } => self.truth.running(worker_node, identity, on),
                Item::Act(act) => self.act(entry.time, act)?,
            }
        }
        Ok(())
    }

    fn act(&mut self, now: Ms, act: Act) -> anyhow::Result<()> {
        match act {
            Act::Factory(pilot) => {
                self.pilot_submission(now, pilot);
                let mean = self.pilots[pilot].mean_interval;
                let next = self.next_arrival(now, mean);
                self.later(next, Act::Factory(pilot));
            }
            Act::Payload {
                pilot,
                worker_node,
                until,
            } => self.payload(now, pilot, worker_node, until),
            Act::Desktop(user) => {
                if now < self.users[user].quiet_from {
                    self.desktop_session(now, user);
                }
                let next = self.next_arrival(now, 2 * HOUR);
                self.later(next, Act::Desktop(user));
            }
            Act::DirectJob(user) => {
                if now < self.users[user].quiet_from {
                    self.direct_job(now, user);
                }
                let next = self.next_arrival(now, 6 * HOUR);
                self.later(next, Act::DirectJob(user));
            }
            Act::Fts(user) => {
                if now < self.users[user].quiet_from {
                    self.fts_transfer(now, user);
                }
                let next = self.next_arrival(now, 8 * HOUR);
                self.later(next, Act::Fts(user));
            }
            Act::Rucio => {
                self.rucio_transfer(now);
                let next = self.next_arrival(now, 15 * MINUTE);
                self.later(next, Act::Rucio);
            }
            Act::X509(index) => {
                self.x509_session(now, index);
                let next = self.next_arrival(now, 3 * HOUR);
                self.later(next, Act::X509(index));
            }
            Act::Keycloak(index) => {
                self.keycloak_session(now, index);
                let next = self.next_arrival(now, 4 * HOUR);
                self.later(next, Act::Keycloak(index));
            }
            Act::Noise => {
                self.noise(now);
                let next = self.next_arrival(now, 3 * MINUTE);
                self.later(next, Act::Noise);
            }
            Act::Incident => self.incident(now),
        }
        Ok(())
    }

    fn iam_thread(&mut self) -> String {
        format!("http-nio-8080-exec-{}", 1 + self.rng.below(40))
    }

    // ----------------------------------------------------------------------------------
    // Tokens

    fn user_scope(&self, user: usize) -> String {
        format!(
            "openid offline_access wlcg.groups storage.read:/ storage.create:/store/user/{} {COMPUTE_SCOPES}",
            self.users[user].username
        )
    }

    fn user_audience() -> Vec<String> {
        let mut aud: Vec<String> = STORAGE_AUD.iter().map(|aud| aud.to_string()).collect();
        aud.push(format!("{CE_HOST}:9619"));
        aud.push("https://arc01.example.org".to_string());
        aud
    }

    /// Issues a new access token to `user` through the vault client (device code the first
    /// time, with a refresh token; refresh grant afterwards) and makes it the user's current.
    fn issue_user_token(
        &mut self,
        now: Ms,
        user: usize,
        lifetime: Ms,
        aud: Option<Vec<String>>,
        scope: Option<String>,
    ) -> Token {
        let thread = self.iam_thread();
        let identity = self.users[user].id;
        let mut text = self.buffer();
        issuer::auth_success(&mut text, now, &thread, VAULT_CLIENT, VAULT_IP);
        self.line(self.files.iam, now, Tags::NONE, text);
        let scope = scope.unwrap_or_else(|| self.user_scope(user));
        let grant_type = if self.users[user].refresh.is_none() {
            let jti = self.rng.uuid();
            let mut text = self.buffer();
            issuer::refresh_token_issued(
                &mut text,
                now + 12,
                &thread,
                VAULT_CLIENT,
                &self.users[user].username,
                &scope,
                grant::DEVICE_CODE,
                &jti,
                now + 30 * DAY,
            );
            self.line(self.files.iam, now + 12, Tags::of(identity), text);
            self.truth.jti(identity, &jti);
            self.users[user].refresh = Some(jti);
            grant::DEVICE_CODE
        } else {
            grant::REFRESH
        };
        let iat = now + 15 + self.rng.range(0, 5);
        let token = Token {
            iss: IAM_ISS,
            sub: self.users[user].sub.clone(),
            jti: self.rng.uuid(),
            client_id: VAULT_CLIENT.to_string(),
            username: self.users[user].username.clone(),
            scope,
            aud: aud.unwrap_or_else(Self::user_audience),
            groups: self.users[user].groups.clone(),
            iat,
            exp: iat + lifetime,
            grant: grant_type,
            refresh_jti: self.users[user].refresh.clone(),
            actor: None,
        };
        let mut text = self.buffer();
        issuer::access_token_issued(&mut text, now + 20, &thread, &token);
        self.line(self.files.iam, now + 20, Tags::of(identity), text);
        self.truth.jti(identity, &token.jti);
        self.users[user].access = Some(token.clone());
        token
    }

    /// The user's current token if it stays valid for `needed`, else a fresh one.
    fn user_token(&mut self, now: Ms, user: usize, needed: Ms) -> Token {
        match &self.users[user].access {
            Some(token) if token.exp > now + needed + MINUTE => token.clone(),
            _ => self.issue_user_token(now, user, HOUR, None, None),
        }
    }

    /// A token obtained by `client` through token exchange on behalf of `user`.
    fn exchanged_token(
        &mut self,
        now: Ms,
        user: usize,
        client: &str,
        address: &str,
        aud: &[&str],
    ) -> Token {
        let thread = self.iam_thread();
        let identity = self.users[user].id;
        let mut text = self.buffer();
        issuer::auth_success(&mut text, now, &thread, client, address);
        self.line(self.files.iam, now, Tags::NONE, text);
        let iat = now + 9;
        let token = Token {
            iss: IAM_ISS,
            sub: self.users[user].sub.clone(),
            jti: self.rng.uuid(),
            client_id: client.to_string(),
            username: self.users[user].username.clone(),
            scope: format!(
                "storage.read:/ storage.create:/store/user/{}",
                self.users[user].username
            ),
            aud: aud.iter().map(|aud| aud.to_string()).collect(),
            groups: vec!["/cms".to_string()],
            iat,
            exp: iat + HOUR,
            grant: grant::EXCHANGE,
            refresh_jti: None,
            actor: Some(client.to_string()),
        };
        let mut text = self.buffer();
        issuer::access_token_issued(&mut text, now + 11, &thread, &token);
        self.line(self.files.iam, now + 11, Tags::of(identity), text);
        self.truth.jti(identity, &token.jti);
        token
    }

    /// A client-credentials token (`sub` = client id).
    #[allow(clippy::too_many_arguments)]
    fn client_token(
        &mut self,
        now: Ms,
        identity: IdentityId,
        client: &str,
        address: &str,
        scope: &str,
        aud: Vec<String>,
        groups: Vec<String>,
        lifetime: Ms,
    ) -> Token {
        let thread = self.iam_thread();
        let mut text = self.buffer();
        issuer::auth_success(&mut text, now, &thread, client, address);
        self.line(self.files.iam, now, Tags::NONE, text);
        let iat = now + 8;
        let token = Token {
            iss: IAM_ISS,
            sub: client.to_string(),
            jti: self.rng.uuid(),
            client_id: client.to_string(),
            username: client.to_string(),
            scope: scope.to_string(),
            aud,
            groups,
            iat,
            exp: iat + lifetime,
            grant: grant::CLIENT_CREDENTIALS,
            refresh_jti: None,
            actor: None,
        };
        let mut text = self.buffer();
        issuer::access_token_issued(&mut text, now + 10, &thread, &token);
        self.line(self.files.iam, now + 10, Tags::of(identity), text);
        self.truth.jti(identity, &token.jti);
        token
    }

    fn schedule_noncompliant(&mut self, users: &[usize]) {
        let reasons = ["lifetime>6h", "aud=any", "storage.modify:/"];
        for (k, (&user, reason)) in users.iter().zip(reasons).enumerate() {
            let at = self.start + 10 * HOUR + k as i64 * 20 * MINUTE + self.rng.range(0, MINUTE);
            let token = match reason {
                "lifetime>6h" => self.issue_user_token(at, user, 12 * HOUR, None, None),
                "aud=any" => {
                    self.issue_user_token(at, user, HOUR, Some(vec![ANY_AUD.to_string()]), None)
                }
                _ => {
                    let scope = format!("{} storage.modify:/", self.user_scope(user));
                    self.issue_user_token(at, user, HOUR, None, Some(scope))
                }
            };
            self.truth.noncompliant.push(truth::Noncompliant {
                jti: token.jti.clone(),
                reason: reason.to_string(),
            });
            // Use it right away from the desktop so it is also seen at the site.
            let actor = self.user_actor(user, &token, None);
            let path = self.read_path();
            self.storage_op(at + 30_000, &actor, Op::Read, &path);
        }
    }

    // ----------------------------------------------------------------------------------
    // Actors and storage operations

    fn user_actor(&self, user: usize, token: &Token, worker_node: Option<(WnId, &str)>) -> Actor {
        let record = &self.users[user];
        let (address, host, worker_node, unix_user) = match worker_node {
            Some((wn, unix_user)) => {
                let node = &self.worker_nodes[wn as usize];
                (
                    node.address.clone(),
                    node.name.clone(),
                    Some(wn),
                    unix_user.to_string(),
                )
            }
            None => (
                record.desktop.clone(),
                record.desktop.clone(),
                None,
                record.local_user.clone(),
            ),
        };
        Actor {
            identity: record.id,
            sub: token.sub.clone(),
            jti: token.jti.clone(),
            iss: IAM_ISS,
            username: record.username.clone(),
            uid: record.uid,
            owner: record.local_user.clone(),
            unix_user,
            address,
            host,
            worker_node,
            incident: false,
            raw_token: None,
        }
    }

    fn read_path(&mut self) -> String {
        format!(
            "/store/mc/Run3Summer23/AODSIM/{:04}/file_{:04}.root",
            self.rng.below(40),
            self.rng.below(500)
        )
    }

    fn write_path(&mut self, username: &str) -> String {
        format!(
            "/store/user/{username}/out_{}.root",
            self.rng.below(100_000)
        )
    }

    fn pnfsid(&mut self) -> String {
        let mut id = String::with_capacity(36);
        id.push_str("0000");
        let hex = self.rng.hex(32);
        id.push_str(&hex.to_ascii_uppercase());
        id
    }

    fn micros(&mut self, time: Ms) -> u64 {
        time as u64 * 1000 + self.rng.below(1000)
    }

    /// One storage operation by `actor`, on a service chosen at random; returns its end.
    fn storage_op(&mut self, now: Ms, actor: &Actor, op: Op, path: &str) -> Ms {
        let roll = self.rng.below(100);
        let token = !actor.jti.is_empty();
        if !token || roll < 45 || op == Op::Delete || op == Op::List {
            self.dcache_webdav(now, actor, op, path)
        } else if roll < 65 {
            self.dcache_xrootd(now, actor, op, path)
        } else if roll < 85 {
            self.xrootd_native(now, actor, op, path)
        } else {
            self.storm(now, actor, op, path)
        }
    }

    fn size(&mut self) -> u64 {
        (1 + self.rng.below(4000)) * 1_048_576 + self.rng.below(1_048_576)
    }

    fn certain(&self, actor: &Actor) -> Tags {
        let mut tags = Tags::of(actor.identity).on_worker_node(actor.worker_node);
        tags.incident = actor.incident;
        tags
    }

    fn dcache_webdav(&mut self, now: Ms, actor: &Actor, op: Op, path: &str) -> Ms {
        let (method, code) = match op {
            Op::Read => ("GET", 200),
            Op::Write => ("PUT", 201),
            Op::Delete => {
                let own = path.starts_with(&format!("/store/user/{}/", actor.username));
                (
                    "DELETE",
                    if own || actor.jti.is_empty() {
                        204
                    } else {
                        403
                    },
                )
            }
            Op::List => ("PROPFIND", 207),
        };
        let size = self.size();
        let transfer = matches!(op, Op::Read | Op::Write);
        let duration = if transfer {
            (size / 40_000).max(50)
        } else {
            self.rng.range(3, 40) as u64
        };
        let end = now + duration as i64;
        let mut session = String::with_capacity(64);
        let counter = self.micros(now);
        storage::dcache_session(&mut session, storage::WEBDAV_DOOR, counter);
        let transaction = transfer.then(|| format!("{session}:{}", counter + 17));
        let port = 30_000 + self.rng.below(30_000) as u16;
        let agent = *self.rng.pick(&AGENTS);
        let principal = if actor.jti.is_empty() {
            storage::Principal::Dn {
                dn: &actor.sub,
                uid: actor.uid,
            }
        } else {
            storage::Principal::Token {
                sub: &actor.sub,
                jti: &actor.jti,
                uid: actor.uid,
            }
        };
        let mut text = self.sink.buffer();
        storage::dcache_webdav(
            &mut text,
            &storage::WebdavRequest {
                time: end,
                session: &session,
                method,
                path,
                client: &actor.address,
                port,
                agent,
                principal,
                transaction: transaction.as_deref(),
                duration,
                code,
                tpc_source: None,
            },
        );
        let tags = self.certain(actor);
        self.line(self.files.dcache_access, end, tags, text);
        if let Some(transaction) = transaction {
            self.truth.session(actor.identity, &transaction);
            self.billing(
                end + 3,
                actor,
                op == Op::Write,
                false,
                port,
                path,
                size,
                duration,
                &transaction,
            );
        }
        end
    }

    /// Billing pool line (linked by the door transaction) and the door's line for the same
    /// transfer right after it (same door, same file: the parser joins it to the pool line).
    #[allow(clippy::too_many_arguments)]
    fn billing(
        &mut self,
        time: Ms,
        actor: &Actor,
        write: bool,
        xrootd: bool,
        port: u16,
        path: &str,
        size: u64,
        millis: u64,
        transaction: &str,
    ) {
        let day = ((time - self.start) / DAY).clamp(0, self.files.billing.len() as i64 - 1);
        let file = self.files.billing[day as usize];
        let pool = 1 + self.rng.below(12) as u32;
        let pnfsid = self.pnfsid();
        let mut text = self.buffer();
        storage::billing_pool(
            &mut text,
            time,
            pool,
            &pnfsid,
            size,
            path,
            millis,
            write,
            xrootd,
            &actor.address,
            port,
            transaction,
        );
        let tags = self.certain(actor);
        self.line(file, time, tags, text);
        let mut text = self.buffer();
        storage::billing_door(
            &mut text,
            time + 2,
            xrootd,
            &actor.owner,
            actor.uid,
            &actor.address,
            &pnfsid,
            size,
            path,
            millis + 23,
        );
        self.line(
            file,
            time + 2,
            Tags::of(actor.identity).on_worker_node(actor.worker_node),
            text,
        );
    }

    fn dcache_xrootd(&mut self, now: Ms, actor: &Actor, op: Op, path: &str) -> Ms {
        let counter = self.micros(now);
        let mut session = String::with_capacity(64);
        storage::dcache_session(&mut session, storage::XROOTD_DOOR, counter);
        self.truth.session(actor.identity, &session);
        let port = 30_000 + self.rng.below(30_000) as u16;
        let session_tags = Tags::of(actor.identity);
        let mut text = self.buffer();
        storage::dcache_xrootd_start(&mut text, now, &session, &actor.address, port);
        self.line(self.files.dcache_access, now, session_tags, text);
        let pid = 1000 + self.rng.below(30_000) as u32;
        let session_hex = self.rng.hex(32);
        let app = if actor.worker_node.is_some() {
            "cmsRun"
        } else {
            "xrdcp"
        };
        let mut text = self.buffer();
        storage::dcache_xrootd_login_request(
            &mut text,
            now + 17,
            &session,
            &actor.unix_user,
            pid,
            app,
            &actor.host,
            &session_hex,
        );
        self.line(self.files.dcache_access, now + 17, session_tags, text);
        let mut text = self.buffer();
        storage::dcache_xrootd_login(
            &mut text,
            now + 63,
            &session,
            &actor.sub,
            &actor.jti,
            actor.uid,
        );
        self.line(self.files.dcache_access, now + 63, session_tags, text);
        let uuid = self.rng.uuid();
        let pool = 1 + self.rng.below(12) as u32;
        let opaque = actor
            .raw_token
            .as_ref()
            .map(|token| format!("authz=Bearer%20{token}"));
        let mut text = self.buffer();
        storage::dcache_xrootd_open(
            &mut text,
            now + 108,
            &session,
            path,
            opaque.as_deref(),
            pool,
            &uuid,
        );
        self.line(self.files.dcache_access, now + 108, session_tags, text);
        let size = self.size();
        let millis = (size / 30_000).max(80);
        let done = now + 108 + millis as i64;
        let transaction = format!("{session}:{}", counter + 108_000);
        self.billing(
            done,
            actor,
            op == Op::Write,
            true,
            port,
            path,
            size,
            millis,
            &transaction,
        );
        let mut text = self.buffer();
        storage::dcache_xrootd_end(&mut text, done + 40, &session);
        self.line(self.files.dcache_access, done + 40, session_tags, text);
        done + 40
    }

    fn xrootd_native(&mut self, now: Ms, actor: &Actor, op: Op, path: &str) -> Ms {
        let thread = 100 + self.rng.below(9000) as u32;
        let pid = 1000 + self.rng.below(30_000);
        let fd = 10 + self.rng.below(200);
        let host = if actor.host.contains(':') {
            format!("[{}]", actor.host)
        } else {
            actor.host.clone()
        };
        let tident = format!("{}.{pid}:{fd}@{host}", actor.unix_user);
        self.truth.session(actor.identity, &tident);
        let session = Tags::of(actor.identity);
        let ipv6 = actor.address.contains(':');
        let file = self.files.xrootd;
        let mut text = self.buffer();
        storage::xrootd_login(&mut text, now, thread, &tident, ipv6, Some(&actor.sub));
        self.line(file, now, session, text);
        let mut text = self.buffer();
        storage::xrootd_scitokens(
            &mut text,
            now + 1,
            thread,
            "Access",
            "Trying token-based access control",
        );
        self.line(file, now + 1, Tags::NONE, text);
        let mut text = self.buffer();
        storage::xrootd_new_token(
            &mut text,
            now + 2,
            thread,
            &actor.owner,
            &actor.sub,
            actor.iss,
            &actor.username,
        );
        self.line(file, now + 2, session, text);
        let operation = if op == Op::Write { "create" } else { "read" };
        let mut text = self.buffer();
        storage::xrootd_scitokens(
            &mut text,
            now + 3,
            thread,
            "Access",
            &format!("Grant authorization based on scopes for operation={operation}, path={path}"),
        );
        // The grant follows the token check on the same thread: the parser ties it to the
        // token's identity.
        self.line(file, now + 3, Tags::of(actor.identity), text);
        let tags = self.certain(actor);
        let mut text = self.buffer();
        storage::xrootd_open(&mut text, now + 4, thread, &tident, op == Op::Write, path);
        self.line(file, now + 4, tags, text);
        let seconds = self.rng.range(2, 400);
        let close = now + 4 + seconds * 1000;
        let mut text = self.buffer();
        storage::xrootd_close(&mut text, close, thread, &tident);
        self.line(file, close, tags, text);
        let mut text = self.buffer();
        storage::xrootd_disc(&mut text, close + 150, thread, &tident, seconds);
        self.line(file, close + 150, session, text);
        close + 150
    }

    fn storm(&mut self, now: Ms, actor: &Actor, op: Op, path: &str) -> Ms {
        let request_id = self.rng.uuid();
        self.truth.session(actor.identity, &request_id);
        let (method, status, bytes) = match op {
            Op::Read => ("GET", 200, Some(self.size())),
            Op::Write => ("PUT", 201, Some(0)),
            Op::Delete => ("DELETE", 204, None),
            Op::List => ("PROPFIND", 207, None),
        };
        let millis = bytes.map_or(5, |bytes| (bytes / 50_000).max(20));
        let end = now + millis as i64;
        let user = if actor.jti.is_empty() {
            actor.sub.clone()
        } else {
            format!("{}@{}", actor.sub, actor.iss)
        };
        let mut text = self.buffer();
        storage::storm_access(
            &mut text,
            end,
            &actor.address,
            &user,
            &request_id,
            method,
            path,
            status,
            bytes,
            millis,
        );
        let tags = self.certain(actor);
        self.line(self.files.storm_access, end, tags, text);
        end
    }

    /// A burst of operations by `actor` in [now, until); returns when the last one ended.
    fn operations(&mut self, now: Ms, actor: &Actor, count: u64, until: Ms) -> Ms {
        let mut at = now;
        for _ in 0..count {
            if at >= until {
                break;
            }
            let roll = self.rng.below(100);
            let (op, path) = match roll {
                0..=59 => (Op::Read, self.read_path()),
                60..=84 => (Op::Write, self.write_path(&actor.username)),
                85..=92 => (Op::List, format!("/store/user/{}/", actor.username)),
                _ => (Op::Delete, self.write_path(&actor.username)),
            };
            let end = self.storage_op(at, actor, op, &path);
            at = end + self.rng.range(2_000, 90_000);
        }
        at
    }

    // ----------------------------------------------------------------------------------
    // Jobs

    /// Writes the submission of `procs` jobs to the HTCondor-CE by `identity` with `token`,
    /// and their whole lives. Returns the CE cluster id and, per proc, the run window and
    /// worker node (None when removed before running).
    #[allow(clippy::too_many_arguments)]
    fn ce_submission(
        &mut self,
        now: Ms,
        identity: IdentityId,
        token: &Token,
        new_session: bool,
        local_user: &str,
        peer: &str,
        procs: u32,
        runtime: (Ms, Ms),
        remove_chance: f64,
    ) -> Vec<Option<(Ms, Ms, WnId)>> {
        let cid = self.next_cid;
        self.next_cid += 1 + self.rng.below(40);
        let cluster = self.next_cluster;
        self.next_cluster += 1;
        let port = 40_000 + self.rng.below(20_000) as u16;
        let tags = Tags::of(identity);
        self.truth.session(identity, &format!("cid:{cid}"));
        let audit = self.files.audit;
        let mut t = now;
        if new_session {
            let mut text = self.buffer();
            ce::examining(&mut text, t, cid, token);
            self.line(audit, t, tags, text);
        }
        t += 40;
        let mut text = self.buffer();
        ce::command(&mut text, t, cid, "QMGMT_WRITE_CMD", peer, port);
        self.line(audit, t, tags, text);
        t += 2;
        let mut text = self.buffer();
        ce::auth_method(&mut text, t, cid, token.iss, &token.sub, local_user);
        self.line(audit, t, tags, text);
        for proc_id in 0..procs {
            t += 30 + self.rng.range(0, 200);
            let mut text = self.buffer();
            ce::submitting(&mut text, t, cid, cluster, proc_id);
            self.line(audit, t, tags, text);
        }
        // Sandbox spooling on a second connection.
        let spool_cid = self.next_cid;
        self.next_cid += 1 + self.rng.below(5);
        self.truth.session(identity, &format!("cid:{spool_cid}"));
        let t = t + 600 + self.rng.range(0, 800);
        let mut text = self.buffer();
        ce::command(
            &mut text,
            t,
            spool_cid,
            "SPOOL_JOB_FILES_WITH_PERMS",
            peer,
            port + 6,
        );
        self.line(audit, t, tags, text);
        let mut text = self.buffer();
        ce::auth_method(
            &mut text,
            t + 3,
            spool_cid,
            token.iss,
            &token.sub,
            local_user,
        );
        self.line(audit, t + 3, tags, text);
        let mut text = self.buffer();
        ce::transferring(&mut text, t + 20, spool_cid, cluster, procs);
        self.line(audit, t + 20, tags, text);

        let mut runs = Vec::new();
        for proc_id in 0..procs {
            let batch = self.next_batch;
            self.next_batch += 1;
            let routed = now + 15_000 + self.rng.range(0, 30_000);
            let mut text = self.buffer();
            ce::router(&mut text, routed, (cluster, proc_id), None, "claimed job");
            self.line(self.files.router, routed, tags, text);
            let mut text = self.buffer();
            ce::router(
                &mut text,
                routed + 120,
                (cluster, proc_id),
                Some(batch),
                "submitted job",
            );
            self.line(self.files.router, routed + 120, tags, text);
            let mut text = self.buffer();
            ce::event_submitted(&mut text, batch, routed + 150, CE_IP, CE_HOST);
            self.line(self.files.event_log, routed + 150, tags, text);
            let mut text = self.buffer();
            ce::event_ad_information(
                &mut text,
                batch,
                routed + 150,
                token,
                (cluster, proc_id),
                None,
                ("ULOG_SUBMIT", 0),
            );
            self.line(self.files.event_log, routed + 150, tags, text);

            let job_id = format!("{CE_HOST}#{cluster}.{proc_id}");
            let batch_id = format!("{CE_HOST}#{batch}.0");
            if self.rng.chance(remove_chance) {
                let removed = routed + self.rng.range(20 * MINUTE, 60 * MINUTE);
                let remove_cid = self.next_cid;
                self.next_cid += 1 + self.rng.below(20);
                self.truth.session(identity, &format!("cid:{remove_cid}"));
                let mut text = self.buffer();
                ce::command(
                    &mut text,
                    removed,
                    remove_cid,
                    "ACT_ON_JOBS",
                    peer,
                    port + 11,
                );
                self.line(audit, removed, tags, text);
                let mut text = self.buffer();
                ce::auth_method(
                    &mut text,
                    removed + 2,
                    remove_cid,
                    token.iss,
                    &token.sub,
                    local_user,
                );
                self.line(audit, removed + 2, tags, text);
                let mut text = self.buffer();
                ce::remove(&mut text, removed + 5, remove_cid, cluster, proc_id, false);
                self.line(audit, removed + 5, tags, text);
                let mut text = self.buffer();
                ce::remove(&mut text, removed + 9, remove_cid, cluster, proc_id, true);
                self.line(audit, removed + 9, tags, text);
                let gone = removed + 4_000;
                let mut text = self.buffer();
                ce::event_aborted(&mut text, batch, gone, local_user);
                self.line(self.files.event_log, gone, tags, text);
                let mut text = self.buffer();
                ce::router(
                    &mut text,
                    gone + 1_000,
                    (cluster, proc_id),
                    Some(batch),
                    "dest job was removed!",
                );
                self.line(self.files.router, gone + 1_000, tags, text);
                let ad = ce::JobAd {
                    ce_host: CE_HOST,
                    cluster,
                    proc_id,
                    batch_cluster: batch,
                    owner: local_user,
                    token,
                    queued: now,
                    run: None,
                    removed_at: Some(removed),
                };
                let mut text = self.buffer();
                ce::batch_history(&mut text, &ad, routed, gone + 500);
                self.history(self.files.batch_history, gone + 500, tags, text);
                let mut text = self.buffer();
                ce::ce_history(&mut text, &ad, gone + 2_000);
                self.history(self.files.ce_history, gone + 2_000, tags, text);
                self.truth
                    .job(identity, truth::job(job_id, batch_id, "", None));
                runs.push(None);
                continue;
            }

            let start = routed + self.rng.range(MINUTE, 10 * MINUTE);
            let end = start + self.rng.range(runtime.0, runtime.1);
            let wn = self.rng.below(self.worker_nodes.len() as u64) as WnId;
            let slot = 1 + self.rng.below(8) as u32;
            let shadow_pid = 2_000_000 + self.rng.below(900_000) as u32;
            let node = &self.worker_nodes[wn as usize];
            let (host, address, startd_pid) =
                (node.name.clone(), node.address.clone(), node.startd_pid);
            self.queue.push(
                start,
                Item::Running {
                    worker_node: wn,
                    identity,
                    on: true,
                },
            );
            let mut text = self.buffer();
            ce::shadow_accepted(
                &mut text, start, batch, shadow_pid, &host, &address, slot, startd_pid,
            );
            self.line(self.files.shadow, start, tags, text);
            let mut text = self.buffer();
            ce::event_executing(&mut text, batch, start, &host, &address, slot, startd_pid);
            self.line(self.files.event_log, start, tags, text);
            let mut text = self.buffer();
            ce::event_ad_information(
                &mut text,
                batch,
                start,
                token,
                (cluster, proc_id),
                Some((&host, slot)),
                ("ULOG_EXECUTE", 1),
            );
            self.line(self.files.event_log, start, tags, text);
            let mut text = self.buffer();
            ce::shadow_terminated(&mut text, end, batch, shadow_pid);
            self.line(self.files.shadow, end, tags, text);
            let mut text = self.buffer();
            ce::event_terminated(&mut text, batch, end);
            self.line(self.files.event_log, end, tags, text);
            let mut text = self.buffer();
            ce::event_ad_information(
                &mut text,
                batch,
                end,
                token,
                (cluster, proc_id),
                Some((&host, slot)),
                ("ULOG_JOB_TERMINATED", 5),
            );
            self.line(self.files.event_log, end, tags, text);
            self.queue.push(
                end + 1,
                Item::Running {
                    worker_node: wn,
                    identity,
                    on: false,
                },
            );
            let ad = ce::JobAd {
                ce_host: CE_HOST,
                cluster,
                proc_id,
                batch_cluster: batch,
                owner: local_user,
                token,
                queued: now,
                run: Some((start, end, &host, &address, slot, startd_pid)),
                removed_at: None,
            };
            let mut text = self.buffer();
            ce::batch_history(&mut text, &ad, routed, end + 800);
            self.history(self.files.batch_history, end + 800, tags, text);
            let mut text = self.buffer();
            ce::router(
                &mut text,
                end + 9_000,
                (cluster, proc_id),
                Some(batch),
                "finalized job",
            );
            self.line(self.files.router, end + 9_000, tags, text);
            let mut text = self.buffer();
            ce::ce_history(&mut text, &ad, end + 12_000);
            self.history(self.files.ce_history, end + 12_000, tags, text);
            self.truth.job(
                identity,
                truth::job(job_id, batch_id, &host, Some((start, end))),
            );
            runs.push(Some((start, end, wn)));
        }
        runs
    }

    fn pilot_submission(&mut self, now: Ms, pilot: usize) {
        let identity = self.pilots[pilot].id;
        let needs_token = self.pilots[pilot]
            .token
            .as_ref()
            .is_none_or(|token| token.exp < now + 30 * MINUTE);
        if needs_token {
            let token = if self.pilots[pilot].iss == IAM_ISS {
                let client = self.pilots[pilot].client.clone();
                self.client_token(
                    now,
                    identity,
                    &client,
                    FACTORY_IP,
                    COMPUTE_SCOPES,
                    vec![format!("{CE_HOST}:9619")],
                    vec!["/cms".to_string(), "/cms/pilot".to_string()],
                    2 * HOUR,
                )
            } else {
                // Another VO's issuer: only the CE sees this token.
                let iat = now;
                let jti = self.rng.uuid();
                self.truth.jti(identity, &jti);
                Token {
                    iss: OTHER_VO_ISS,
                    sub: self.pilots[pilot].client.clone(),
                    jti,
                    client_id: self.pilots[pilot].client.clone(),
                    username: self.pilots[pilot].client.clone(),
                    scope: COMPUTE_SCOPES.to_string(),
                    aud: vec![format!("{CE_HOST}:9619")],
                    groups: vec!["/wlcg".to_string(), "/wlcg/pilots".to_string()],
                    iat,
                    exp: iat + 2 * HOUR,
                    grant: grant::CLIENT_CREDENTIALS,
                    refresh_jti: None,
                    actor: None,
                }
            };
            self.pilots[pilot].token = Some(token);
        }
        let token = self.pilots[pilot].token.clone().expect("token set above");
        let new_session = self.pilots[pilot].session_jti != token.jti;
        self.pilots[pilot].session_jti = token.jti.clone();
        let procs = 1 + self.rng.below(3) as u32;
        let local_user = self.pilots[pilot].local_user;
        let peer = if pilot == 0 {
            FACTORY_IP
        } else {
            "198.51.100.240"
        };
        let submit = now + 300;
        let runs = self.ce_submission(
            submit,
            identity,
            &token,
            new_session,
            local_user,
            peer,
            procs,
            (HOUR, 4 * HOUR),
            0.1,
        );
        if pilot == 0 {
            for (start, end, wn) in runs.into_iter().flatten() {
                let first = start + self.rng.range(MINUTE, 3 * MINUTE);
                self.later_any(
                    first,
                    Act::Payload {
                        pilot,
                        worker_node: wn,
                        until: end - MINUTE,
                    },
                );
            }
        }
    }

    /// Like `later`, but also after the simulated period (payloads of running pilots).
    fn later_any(&mut self, time: Ms, act: Act) {
        self.queue.push(time, Item::Act(act));
    }

    fn payload(&mut self, now: Ms, pilot: usize, worker_node: WnId, until: Ms) {
        if until - now < 12 * MINUTE {
            return;
        }
        let duration = self.rng.range(10 * MINUTE, 45 * MINUTE).min(until - now);
        self.pilot_software_fetch(now + 5_000, pilot, worker_node);
        let candidates: Vec<usize> = (0..self.users.len())
            .filter(|&user| now + duration + 5 * MINUTE < self.users[user].quiet_from)
            .collect();
        if let Some(&user) = candidates.get(self.rng.below(candidates.len().max(1) as u64) as usize)
        {
            let wms = self.wms_client.clone();
            let token = self.exchanged_token(now, user, &wms, WMS_IP, &STORAGE_AUD);
            let actor = self.user_actor(
                user,
                &token,
                Some((worker_node, self.pilots[pilot].local_user)),
            );
            let count = 3 + self.rng.below(10);
            self.operations(now + 20_000, &actor, count, now + duration);
        }
        let next = now + duration + self.rng.range(20_000, 90_000);
        self.later_any(
            next,
            Act::Payload {
                pilot,
                worker_node,
                until,
            },
        );
    }

    /// Before a payload the pilot reads its software anonymously over XRootD from the worker
    /// node: file operations that carry no identity (`probable` evidence of the jobs running
    /// on that node at the time).
    fn pilot_software_fetch(&mut self, now: Ms, pilot: usize, worker_node: WnId) {
        let host = self.worker_nodes[worker_node as usize].name.clone();
        let user = self.pilots[pilot].local_user.to_string();
        let tident = format!(
            "{user}.{}:{}@{host}",
            10_000 + self.rng.below(50_000),
            10 + self.rng.below(200)
        );
        let thread = 100 + self.rng.below(9000) as u32;
        let path = format!("/store/sw/pilot/pilot-{}.tar.gz", 1 + self.rng.below(5));
        let file = self.files.xrootd;
        let mut text = self.buffer();
        storage::xrootd_login(&mut text, now, thread, &tident, false, None);
        self.line(file, now, Tags::NONE, text);
        let on_node = Tags::NONE.on_worker_node(Some(worker_node));
        let mut text = self.buffer();
        storage::xrootd_open(&mut text, now + 100, thread, &tident, false, &path);
        self.line(file, now + 100, on_node, text);
        let mut text = self.buffer();
        storage::xrootd_close(&mut text, now + 2_100, thread, &tident);
        self.line(file, now + 2_100, on_node, text);
        let mut text = self.buffer();
        storage::xrootd_disc(&mut text, now + 2_200, thread, &tident, 2);
        self.line(file, now + 2_200, Tags::NONE, text);
    }

    fn direct_job(&mut self, now: Ms, user: usize) {
        let runtime = self.rng.range(10 * MINUTE, 40 * MINUTE);
        let token = self.user_token(now, user, runtime + 15 * MINUTE);
        self.submit_user_job(now, user, &token, runtime);
    }

    /// A user's own job with `token`, to the HTCondor-CE (70 %) or the ARC CE.
    fn submit_user_job(
        &mut self,
        now: Ms,
        user: usize,
        token: &Token,
        runtime: Ms,
    ) -> Option<(Ms, Ms, WnId)> {
        let identity = self.users[user].id;
        let local_user = self.users[user].local_user.clone();
        if self.rng.chance(0.7) {
            let desktop = self.users[user].desktop.clone();
            let peer = if desktop.contains(':') {
                "192.0.2.99".to_string()
            } else {
                desktop
            };
            let runs = self.ce_submission(
                now + 30_000,
                identity,
                token,
                true,
                &local_user,
                &peer,
                1,
                (runtime, runtime + MINUTE),
                0.0,
            );
            let run = runs.into_iter().next().flatten();
            if let Some((start, end, wn)) = run {
                let actor = self.user_actor(user, token, Some((wn, &local_user)));
                let count = 2 + self.rng.below(6);
                self.operations(start + 45_000, &actor, count, end - MINUTE);
            }
            run
        } else {
            self.arc_job(now, user, token, runtime)
        }
    }

    fn arc_job(
        &mut self,
        now: Ms,
        user: usize,
        token: &Token,
        runtime: Ms,
    ) -> Option<(Ms, Ms, WnId)> {
        let identity = self.users[user].id;
        let id = self.rng.hex(12);
        let lrms_id = self.next_slurm;
        self.next_slurm += 1 + self.rng.below(30);
        let wn = self.rng.below(self.worker_nodes.len() as u64) as WnId;
        let host = self.worker_nodes[wn as usize].name.clone();
        let start = now + self.rng.range(MINUTE, 5 * MINUTE);
        let end = start + runtime;
        let local_user = self.users[user].local_user.clone();
        let uid = self.users[user].uid;
        let desktop = self.users[user].desktop.clone();
        let name = format!("analysis-{}", self.rng.below(10_000));
        let job = ce::ArcJob {
            id: &id,
            token,
            uid,
            name: &name,
            lrms_id,
            client: (&desktop, 50_000 + self.rng.below(10_000) as u16),
            submitted: now,
            start,
            end,
            host: &host,
        };
        let tags = Tags::of(identity);
        let mut text = self.sink.buffer();
        ce::arc_ws_line(
            &mut text,
            now,
            "Arc.A-REX REST",
            &format!("Connection from {desktop}: "),
        );
        self.line(self.files.arc_ws, now, Tags::NONE, text);
        let mut text = self.sink.buffer();
        ce::arc_ws_line(
            &mut text,
            now,
            "Arc.ARexGMConfig",
            "TLS provides no identity, going for OTokens",
        );
        self.line(self.files.arc_ws, now, Tags::NONE, text);
        let mut text = self.sink.buffer();
        ce::arc_ws_line(
            &mut text,
            now,
            "Arc.SecHandler",
            &format!("Grid identity is mapped to local identity '{local_user}'"),
        );
        self.line(self.files.arc_ws, now, Tags::NONE, text);
        let mut text = self.sink.buffer();
        ce::arex_line(
            &mut text,
            now + 1_000,
            &id,
            "State: ACCEPTED: parsing job description",
        );
        self.line(self.files.arex, now + 1_000, tags, text);
        let mut text = self.sink.buffer();
        ce::arc_jobs_line(&mut text, now + 2_000, &job, false);
        self.line(self.files.arex_jobs, now + 2_000, tags, text);
        let mut text = self.sink.buffer();
        ce::arex_line(&mut text, now + 30_000, &id, "State: INLRMS from SUBMIT");
        self.line(self.files.arex, now + 30_000, tags, text);
        let mut text = self.sink.buffer();
        ce::arex_line(&mut text, end + 60_000, &id, "Job finished");
        self.line(self.files.arex, end + 60_000, tags, text);
        let mut text = self.sink.buffer();
        ce::arc_jobs_line(&mut text, end + 61_000, &job, true);
        self.line(self.files.arex_jobs, end + 61_000, tags, text);
        // Control files are snapshots, written whole.
        for (suffix, local) in [("local", true), ("diag", false)] {
            let mut text = self.sink.buffer();
            if local {
                ce::arc_local(&mut text, &job);
            } else {
                ce::arc_diag(&mut text, &job);
            }
            let path = format!("arc01.example.org/controldir/job.{id}.{suffix}");
            if let Ok(file) = self.sink.file(&path) {
                if let Ok(line) = self.sink.append(file, &text) {
                    self.truth.record(file, line, &tags);
                }
            }
            self.sink.recycle(text);
        }
        self.queue.push(
            start,
            Item::Running {
                worker_node: wn,
                identity,
                on: true,
            },
        );
        self.queue.push(
            end + 1,
            Item::Running {
                worker_node: wn,
                identity,
                on: false,
            },
        );
        self.truth.job(
            identity,
            truth::job(
                format!("arc01.example.org#{id}"),
                format!("slurm:{lrms_id}"),
                &host,
                Some((start, end)),
            ),
        );
        let actor = self.user_actor(user, token, Some((wn, &local_user)));
        let count = 2 + self.rng.below(5);
        self.operations(start + 40_000, &actor, count, end - MINUTE);
        Some((start, end, wn))
    }

    // ----------------------------------------------------------------------------------
    // Other activity

    fn desktop_session(&mut self, now: Ms, user: usize) {
        let token = self.user_token(now, user, 15 * MINUTE);
        let mut actor = self.user_actor(user, &token, None);
        if self.rng.chance(0.1) {
            let claims = issuer::claims_json(&token);
            let signature = self.rng.hex(43);
            actor.raw_token = Some(tokentrail_parsers::jwt::encode_test_jwt(
                &claims, &signature,
            ));
        }
        let count = 2 + self.rng.below(7);
        self.operations(now + 40_000, &actor, count, now + 12 * MINUTE);
    }

    fn fts_transfer(&mut self, now: Ms, user: usize) {
        let fts = self.fts_client.clone();
        let token = self.exchanged_token(now, user, &fts, FTS_IP, &STORAGE_AUD[..1]);
        let mut actor = self.user_actor(user, &token, None);
        actor.address = FTS_IP.to_string();
        actor.host = "fts01.example.org".to_string();
        let path = self.write_path(&actor.username.clone());
        self.tpc_copy(now + 30_000, &actor, &path);
    }

    /// An HTTP third-party copy into dCache (COPY with a tpc.source) pulled from StoRM.
    fn tpc_copy(&mut self, now: Ms, actor: &Actor, path: &str) {
        let counter = self.micros(now);
        let mut session = String::with_capacity(64);
        storage::dcache_session(&mut session, storage::WEBDAV_DOOR, counter);
        let transaction = format!("{session}:{}", counter + 11);
        self.truth.session(actor.identity, &transaction);
        let duration = self.rng.range(5_000, 90_000) as u64;
        let source = format!("https://storm01.example.org:8443/cms{path}");
        let mut text = self.buffer();
        storage::dcache_webdav(
            &mut text,
            &storage::WebdavRequest {
                time: now + duration as i64,
                session: &session,
                method: "COPY",
                path,
                client: &actor.address,
                port: 38_000 + self.rng.below(1000) as u16,
                agent: "fts_url_copy/3.14.4 gfal2/2.23.2",
                principal: storage::Principal::Token {
                    sub: &actor.sub,
                    jti: &actor.jti,
                    uid: actor.uid,
                },
                transaction: Some(&transaction),
                duration,
                code: 202,
                tpc_source: Some(&source),
            },
        );
        let tags = self.certain(actor);
        self.line(self.files.dcache_access, now + duration as i64, tags, text);
    }

    fn rucio_transfer(&mut self, now: Ms) {
        let (identity, client, current) = self.rucio.clone();
        let token = match current {
            Some(token) if token.exp > now + 20 * MINUTE => token,
            _ => {
                let aud = vec![STORAGE_AUD[0].to_string(), STORAGE_AUD[2].to_string()];
                let token = self.client_token(
                    now,
                    identity,
                    &client,
                    RUCIO_IP,
                    "storage.read:/ storage.create:/store storage.modify:/store/data",
                    aud,
                    Vec::new(),
                    HOUR,
                );
                self.rucio.2 = Some(token.clone());
                token
            }
        };
        let actor = Actor {
            identity,
            sub: token.sub.clone(),
            jti: token.jti.clone(),
            iss: IAM_ISS,
            username: "rucio".to_string(),
            uid: 40_001,
            owner: "cmsrucio".to_string(),
            unix_user: "fts3".to_string(),
            address: FTS_IP.to_string(),
            host: "fts01.example.org".to_string(),
            worker_node: None,
            incident: false,
            raw_token: None,
        };
        let path = format!(
            "/store/data/Run2024F/Muon0/AOD/{:03}/{}.root",
            self.rng.below(1000),
            self.rng.uuid()
        );
        if self.rng.chance(0.5) {
            self.tpc_copy(now + 5_000, &actor, &path);
        } else {
            // Pull into StoRM from dCache: access line (sub@iss) and the server's TPC lines.
            let request_id = self.rng.uuid();
            let transfer_id = self.rng.uuid();
            let fts_job = self.rng.uuid();
            let file_id = self.next_file_id;
            self.next_file_id += 1 + self.rng.below(50);
            self.truth.session(identity, &request_id);
            let source = format!(
                "https://dcache01.example.org:2880{}{path}",
                storage::PNFS_PREFIX
            );
            let bytes = self.size();
            let millis = self.rng.range(5_000, 60_000) as u64;
            let t = now + 5_000;
            let tags = Tags::of(identity);
            let mut text = self.buffer();
            storage::storm_tpc(
                &mut text,
                t,
                &request_id,
                &fts_job,
                file_id,
                &source,
                &path,
                None,
                &transfer_id,
            );
            self.line(self.files.storm_server, t, tags, text);
            let done = t + millis as i64;
            let mut text = self.buffer();
            storage::storm_tpc(
                &mut text,
                done,
                &request_id,
                &fts_job,
                file_id,
                &source,
                &path,
                Some((bytes, millis)),
                &transfer_id,
            );
            self.line(self.files.storm_server, done, tags, text);
            let user = format!("{}@{}", token.sub, IAM_ISS);
            let mut text = self.buffer();
            storage::storm_access(
                &mut text,
                done + 4,
                FTS_IP,
                &user,
                &request_id,
                "COPY",
                &path,
                202,
                None,
                millis,
            );
            self.line(self.files.storm_access, done + 4, tags, text);
        }
    }

    fn x509_session(&mut self, now: Ms, index: usize) {
        let person = &self.x509[index];
        let actor = Actor {
            identity: person.id,
            sub: person.dn.clone(),
            jti: String::new(),
            iss: "",
            username: person.username.clone(),
            uid: person.uid,
            owner: person.dn.clone(),
            unix_user: person.username.clone(),
            address: person.desktop.clone(),
            host: person.desktop.clone(),
            worker_node: None,
            incident: false,
            raw_token: None,
        };
        let count = 1 + self.rng.below(4);
        let mut at = now;
        for _ in 0..count {
            let (op, path) = if self.rng.chance(0.7) {
                (Op::Read, self.read_path())
            } else {
                (Op::Write, self.write_path(&actor.username))
            };
            let end = if self.rng.chance(0.8) {
                self.dcache_webdav(at, &actor, op, &path)
            } else {
                self.storm(at, &actor, op, &path)
            };
            at = end + self.rng.range(5_000, 60_000);
        }
    }

    fn keycloak_session(&mut self, now: Ms, index: usize) {
        let thread = 1 + self.rng.below(16) as u32;
        let token_id = format!("onrtac:{}", self.rng.uuid());
        let new_refresh = self.rng.uuid();
        let user = &self.keycloak[index];
        let (identity, sub, desktop, session, refresh) = (
            user.id,
            user.sub.clone(),
            user.desktop.clone(),
            user.session.clone(),
            user.refresh.clone(),
        );
        let mut text = self.buffer();
        if self.rng.chance(0.5) {
            issuer::keycloak_code_to_token(
                &mut text,
                now,
                thread,
                "egi-notebooks",
                &sub,
                &session,
                &desktop,
                &token_id,
                &refresh,
            );
        } else {
            issuer::keycloak_refresh(
                &mut text,
                now,
                thread,
                "egi-notebooks",
                &sub,
                &session,
                &desktop,
                &token_id,
                &refresh,
                &new_refresh,
            );
            self.keycloak[index].refresh = new_refresh.clone();
            self.truth.jti(identity, &new_refresh);
        }
        self.line(self.files.keycloak, now, Tags::of(identity), text);
        self.truth.jti(identity, &token_id);
        self.truth.jti(identity, &refresh);
        let actor = Actor {
            identity,
            sub,
            jti: token_id,
            iss: KEYCLOAK_ISS,
            username: format!("egi{index}"),
            uid: 52_001 + index as u32,
            owner: format!("egiusr{index:02}"),
            unix_user: format!("egiusr{index:02}"),
            address: desktop.clone(),
            host: desktop,
            worker_node: None,
            incident: false,
            raw_token: None,
        };
        let count = 1 + self.rng.below(4);
        let mut at = now + 20_000;
        for _ in 0..count {
            let path = self.read_path();
            let end = self.storm(at, &actor, Op::Read, &path);
            at = end + self.rng.range(5_000, 60_000);
        }
    }

    fn noise(&mut self, now: Ms) {
        match self.rng.below(7) {
            0 => {
                let thread = self.iam_thread();
                let mut text = self.buffer();
                issuer::auth_failure(&mut text, now, &thread);
                self.line(self.files.iam, now, Tags::NONE, text);
            }
            1 => {
                // A foreign, expired token tried at the CE from a non-site address.
                let cid = self.next_cid;
                self.next_cid += 1 + self.rng.below(10);
                let payload = format!(
                    "{{\"sub\":\"{}\",\"aud\":\"{CE_HOST}:9619\",\"nbf\":{},\"scope\":\"compute.create compute.read\",\"iss\":\"https:\\/\\/wlcg.cloud.cnaf.infn.it\\/\",\"exp\":{},\"iat\":{},\"jti\":\"{}\",\"wlcg.groups\":[\"\\/wlcg\"]}}",
                    self.rng.uuid(),
                    now / 1000 - 7200,
                    now / 1000 - 3600,
                    now / 1000 - 7200,
                    self.rng.uuid()
                );
                let port = 50_000 + self.rng.below(10_000) as u16;
                let mut text = self.buffer();
                ce::examining_raw(&mut text, now, cid, &payload);
                self.line(self.files.audit, now, Tags::NONE, text);
                let mut text = self.buffer();
                ce::command(
                    &mut text,
                    now + 30,
                    cid,
                    "QMGMT_WRITE_CMD",
                    "198.51.100.23",
                    port,
                );
                self.line(self.files.audit, now + 30, Tags::NONE, text);
                let mut text = self.buffer();
                ce::auth_failed(&mut text, now + 31, cid);
                self.line(self.files.audit, now + 31, Tags::NONE, text);
            }
            2 => {
                let counter = self.micros(now);
                let mut session = String::new();
                storage::dcache_session(&mut session, storage::WEBDAV_DOOR, counter);
                let mut text = self.buffer();
                storage::dcache_webdav(
                    &mut text,
                    &storage::WebdavRequest {
                        time: now,
                        session: &session,
                        method: "PROPFIND",
                        path: "/store/",
                        client: SCANNER_IP,
                        port: 40_000 + self.rng.below(20_000) as u16,
                        agent: "curl/7.76.1",
                        principal: storage::Principal::Anonymous,
                        transaction: None,
                        duration: 2,
                        code: 401,
                        tpc_source: None,
                    },
                );
                self.line(self.files.dcache_access, now, Tags::NONE, text);
            }
            3 => {
                let request_id = self.rng.uuid();
                let mut text = self.buffer();
                storage::storm_access(
                    &mut text,
                    now,
                    SCANNER_IP,
                    "anonymous",
                    &request_id,
                    "PROPFIND",
                    "/store/user/",
                    401,
                    None,
                    2,
                );
                self.line(self.files.storm_access, now, Tags::NONE, text);
            }
            4 => {
                let thread = 100 + self.rng.below(9000) as u32;
                let tident = format!(
                    "nagios.{}:{}@mon01.example.org",
                    1000 + self.rng.below(9000),
                    10 + self.rng.below(50)
                );
                let mut text = self.buffer();
                storage::xrootd_login(&mut text, now, thread, &tident, false, None);
                self.line(self.files.xrootd, now, Tags::NONE, text);
                let mut text = self.buffer();
                storage::xrootd_disc(&mut text, now + 1_000, thread, &tident, 1);
                self.line(self.files.xrootd, now + 1_000, Tags::NONE, text);
            }
            5 => {
                let thread = 100 + self.rng.below(9000) as u32;
                let mut text = self.buffer();
                storage::xrootd_scitokens(
                    &mut text,
                    now,
                    thread,
                    "GenerateAcls",
                    "Token already expired.",
                );
                self.line(self.files.xrootd, now, Tags::NONE, text);
            }
            _ => {
                let thread = 1 + self.rng.below(16) as u32;
                let code = self.rng.uuid();
                let mut text = self.buffer();
                issuer::keycloak_login_error(&mut text, now, thread, "198.51.100.23", &code);
                self.line(self.files.keycloak, now, Tags::NONE, text);
            }
        }
    }

    /// The stolen token: the victim's token J is used from a worker node by the victim's own
    /// job, then from the outside address, before and after the account is disabled.
    fn incident(&mut self, now: Ms) {
        let victim = self.victim;
        let identity = self.users[victim].id;
        let issued = self.incident_at;
        let token = self.issue_user_token(issued, victim, HOUR, None, None);
        let disabled_at = issued + 25 * MINUTE + self.rng.range(0, 60_000);
        self.truth.incident = truth::Incident {
            jti: token.jti.clone(),
            iss: IAM_ISS.to_string(),
            sub: token.sub.clone(),
            outside_ip: OUTSIDE_IP.to_string(),
            disabled_at: rfc3339(disabled_at),
            uses_after_disable: Vec::new(),
        };
        debug_assert!(now <= issued);
        // The victim's own job with J (the token then leaks from the worker node).
        self.submit_user_job(issued + 90_000, victim, &token, 20 * MINUTE);
        let mut attacker = self.user_actor(victim, &token, None);
        attacker.address = OUTSIDE_IP.to_string();
        attacker.host = OUTSIDE_IP.to_string();
        attacker.unix_user = "root".to_string();
        let username = self.users[victim].username.clone();
        let other = self.users[(victim + 1) % self.users.len()].username.clone();
        // Before the disable.
        let list = format!("/store/user/{username}/");
        self.dcache_webdav(issued + 12 * MINUTE, &attacker, Op::List, &list);
        let path = self.write_path(&username);
        self.dcache_webdav(issued + 14 * MINUTE, &attacker, Op::Read, &path);
        // The administrator suspends the account.
        let thread = self.iam_thread();
        let sub = self.users[victim].sub.clone();
        let mut text = self.buffer();
        issuer::active_replaced(&mut text, disabled_at - 20_000, &thread, &username, &sub);
        self.line(
            self.files.iam,
            disabled_at - 20_000,
            Tags::of(identity),
            text,
        );
        let mut text = self.buffer();
        issuer::account_disabled(&mut text, disabled_at, &username, &sub);
        self.line(self.files.iam, disabled_at, Tags::of(identity), text);
        // After the disable: J is still valid until its exp.
        attacker.incident = true;
        let steps: [(Ms, Op, String); 6] = [
            (3 * MINUTE, Op::List, list.clone()),
            (5 * MINUTE, Op::Read, self.write_path(&username)),
            (9 * MINUTE, Op::Read, self.read_path()),
            (
                14 * MINUTE,
                Op::Write,
                format!("/store/user/{username}/payload.sh"),
            ),
            (18 * MINUTE, Op::Delete, self.write_path(&other)),
            (22 * MINUTE, Op::Delete, self.write_path(&username)),
        ];
        for (offset, op, path) in steps {
            let at = disabled_at + offset + self.rng.range(0, 30_000);
            debug_assert!(at + 5 * MINUTE < token.exp);
            self.dcache_webdav(at, &attacker, op, &path);
        }
    }
}

fn worker_node_count(scale: f64) -> usize {
    ((20.0 * scale.max(1.0)) as usize).clamp(8, 240)
}

#[cfg(test)]
mod tests;

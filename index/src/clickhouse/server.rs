//! Throwaway ClickHouse servers on loopback, for tests, benchmarks and trying the backend out.
//!
//! Each server gets a configuration, data, logs and users file in a temporary directory and
//! HTTP, TCP and interserver ports of its own; servers started together know each other as the
//! shards of one cluster ([`CLUSTER`]). Dropping a [`LocalServers`] stops the processes and
//! removes the directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// The cluster name in the generated `remote_servers` configuration.
pub const CLUSTER: &str = "tokentrail";
/// Set to `1` to skip tests that need a ClickHouse server when none is installed.
pub const SKIP_VARIABLE: &str = "TOKENTRAIL_SKIP_CLICKHOUSE";
/// A server binary to use instead of the usual install locations.
pub const BINARY_VARIABLE: &str = "TOKENTRAIL_CLICKHOUSE_SERVER";

const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// How to start a server: the program and the arguments before `--config-file`.
#[derive(Clone, Debug)]
pub struct ServerBinary {
    pub program: PathBuf,
    pub arguments: Vec<String>,
}

/// Finds the ClickHouse server: `$TOKENTRAIL_CLICKHOUSE_SERVER`, `/usr/bin/clickhouse-server`,
/// `/usr/sbin/clickhouse-server` (Debian), or `/usr/bin/clickhouse server`.
pub fn find_binary() -> Option<ServerBinary> {
    if let Some(path) = std::env::var_os(BINARY_VARIABLE) {
        return Some(ServerBinary {
            program: PathBuf::from(path),
            arguments: Vec::new(),
        });
    }
    for candidate in ["/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"] {
        if Path::new(candidate).is_file() {
            return Some(ServerBinary {
                program: PathBuf::from(candidate),
                arguments: Vec::new(),
            });
        }
    }
    if Path::new("/usr/bin/clickhouse").is_file() {
        return Some(ServerBinary {
            program: PathBuf::from("/usr/bin/clickhouse"),
            arguments: vec!["server".into()],
        });
    }
    None
}

/// The server binary for a test, or `None` when `TOKENTRAIL_SKIP_CLICKHOUSE=1` and none is
/// installed. Panics with the way out when it is missing and skipping was not asked for.
pub fn binary_for_tests() -> Option<ServerBinary> {
    if let Some(binary) = find_binary() {
        return Some(binary);
    }
    if std::env::var(SKIP_VARIABLE).is_ok_and(|value| value == "1") {
        eprintln!("clickhouse-server not installed and {SKIP_VARIABLE}=1: skipping");
        return None;
    }
    panic!(
        "this test needs a ClickHouse server: none at /usr/bin/clickhouse-server, \
         /usr/sbin/clickhouse-server or /usr/bin/clickhouse (install it with \
         `apt-get install clickhouse-server`, point {BINARY_VARIABLE} at one, or set \
         {SKIP_VARIABLE}=1 to skip)"
    );
}

/// Ports of one server.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub http: u16,
    pub tcp: u16,
    pub interserver: u16,
}

/// Running servers, shards of one cluster.
pub struct LocalServers {
    children: Vec<Child>,
    ports: Vec<Ports>,
    directory: tempfile::TempDir,
}

impl LocalServers {
    /// Starts `count` servers (shards of [`CLUSTER`]) and waits until each answers.
    pub fn start(binary: &ServerBinary, count: usize) -> Result<Self, Error> {
        let directory = tempfile::Builder::new()
            .prefix("tokentrail-clickhouse-")
            .tempdir()
            .map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let ports = free_ports(count * 3, directory.path())?
            .chunks(3)
            .map(|chunk| Ports {
                http: chunk[0],
                tcp: chunk[1],
                interserver: chunk[2],
            })
            .collect::<Vec<_>>();
        let mut servers = LocalServers {
            children: Vec::new(),
            ports: ports.clone(),
            directory,
        };
        for (number, own) in ports.iter().enumerate() {
            let root = servers.directory.path().join(format!("server{number}"));
            let config = write_config(&root, own, &ports)?;
            let log =
                std::fs::File::create(root.join("stdout.log")).map_err(|source| Error::Io {
                    path: root.clone(),
                    source,
                })?;
            let child = Command::new(&binary.program)
                .args(&binary.arguments)
                .arg(format!("--config-file={}", config.display()))
                .current_dir(&root)
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|source| Error::Io {
                    path: root.clone(),
                    source,
                })?)
                .stderr(log)
                .spawn()
                .map_err(|source| Error::Io {
                    path: binary.program.clone(),
                    source,
                })?;
            servers.children.push(child);
        }
        for number in 0..servers.children.len() {
            servers.wait_ready(number)?;
        }
        Ok(servers)
    }

    /// The servers' ports, in shard order.
    pub fn ports(&self) -> &[Ports] {
        &self.ports
    }

    /// A store URL for database `database`: one server alone, or all of them as the shards of
    /// [`CLUSTER`].
    pub fn url(&self, database: &str) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|ports| format!("127.0.0.1:{}", ports.http))
            .collect();
        if hosts.len() == 1 {
            format!("clickhouse://{}/{database}", hosts[0])
        } else {
            format!(
                "clickhouse://{}/{database}?cluster={CLUSTER}",
                hosts.join(",")
            )
        }
    }

    fn wait_ready(&mut self, number: usize) -> Result<(), Error> {
        let started = Instant::now();
        let client = super::http::HttpClient::new(
            &format!("127.0.0.1:{}", self.ports[number].http),
            None,
            None,
        );
        loop {
            if client.query("SELECT 1").is_ok() {
                return Ok(());
            }
            let exited = self.children[number]
                .try_wait()
                .ok()
                .flatten()
                .map(|status| status.to_string());
            if exited.is_some() || started.elapsed() > STARTUP_LIMIT {
                let root = self.directory.path().join(format!("server{number}"));
                let log = std::fs::read_to_string(root.join("server.err.log"))
                    .or_else(|_| std::fs::read_to_string(root.join("stdout.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                return Err(Error::Open {
                    path: root,
                    message: format!(
                        "clickhouse-server did not start ({}): {}",
                        exited.unwrap_or_else(|| "no answer".into()),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LocalServers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Ports the system had free a moment ago (all held open together, so they differ).
fn free_ports(count: usize, directory: &Path) -> Result<Vec<u16>, Error> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::Io {
            path: directory.to_path_buf(),
            source,
        })?;
    listeners
        .iter()
        .map(|listener| {
            listener
                .local_addr()
                .map(|address| address.port())
                .map_err(|source| Error::Io {
                    path: directory.to_path_buf(),
                    source,
                })
        })
        .collect()
}

/// Writes `config.xml` and `users.xml` under `root`; returns the config's path.
fn write_config(root: &Path, own: &Ports, all: &[Ports]) -> Result<PathBuf, Error> {
    let io = |source| Error::Io {
        path: root.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(root).map_err(io)?;
    let shards: String = all
        .iter()
        .map(|ports| {
            format!(
                "<shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>",
                ports.tcp
            )
        })
        .collect();
    let dir = root.display();
    let config = format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{dir}/server.log</log>
    <errorlog>{dir}/server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <remote_servers>
    <{CLUSTER}>{shards}</{CLUSTER}>
  </remote_servers>
</yandex>
"#,
        http = own.http,
        tcp = own.tcp,
        interserver = own.interserver,
    );
    let users = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"#;
    let config_path = root.join("config.xml");
    std::fs::write(&config_path, config).map_err(io)?;
    std::fs::write(root.join("users.xml"), users).map_err(io)?;
    Ok(config_path)
}

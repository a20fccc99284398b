//! Local accounts: a JSON file (default `<data>/accounts.json`, mode 0600) of names, roles,
//! argon2id password hashes and hashed API keys. The CLI edits it; the server re-reads it when
//! it changes, so `tokentrail user remove` takes effect on a running server at once.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::WebError;

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads events, traces and stats.
    Viewer,
    /// Also manages accounts and watchlists.
    Admin,
}

impl Role {
    /// `viewer` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}: use viewer or admin")),
        }
    }
}

/// A stored API key: only its id and the SHA-256 of the whole key are kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub sha256: String,
    pub label: String,
    pub created: String,
}

/// One account as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// PHC string of the argon2id hash.
    pub password: String,
    pub created: String,
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
}

/// The accounts file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AccountsFile {
    #[serde(default)]
    pub accounts: Vec<Account>,
}

/// An account without secrets, for listings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    pub name: String,
    pub role: Role,
    pub created: String,
    pub api_keys: Vec<String>,
}

/// The default accounts file of a data directory.
pub fn default_accounts_file(data_dir: &Path) -> PathBuf {
    data_dir.join("accounts.json")
}

/// Shortest password `user add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn check_name(name: &str) -> Result<(), WebError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if valid {
        Ok(())
    } else {
        Err(WebError::Accounts(format!(
            "account name {name:?} is not valid: use 1-64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// Reads the accounts file (an absent file is no accounts).
pub fn load(file: &Path) -> Result<AccountsFile, WebError> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            WebError::Accounts(format!(
                "cannot read accounts file {}: {error}",
                file.display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(AccountsFile::default()),
        Err(source) => Err(WebError::Io {
            path: file.to_path_buf(),
            source,
        }),
    }
}

/// Writes the accounts file atomically, readable by its owner only.
pub fn save(file: &Path, accounts: &AccountsFile) -> Result<(), WebError> {
    let io = |source| WebError::Io {
        path: file.to_path_buf(),
        source,
    };
    if let Some(parent) = file.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
    }
    let temporary = file.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(accounts).expect("accounts serialise");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut out = options.open(&temporary).map_err(io)?;
        out.write_all(&bytes).map_err(io)?;
        out.sync_all().map_err(io)?;
    }
    std::fs::rename(&temporary, file).map_err(io)
}

/// Hashes a password with argon2id (default parameters, random salt).
pub fn hash_password(password: &str) -> Result<String, WebError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|error| WebError::Accounts(format!("cannot make a salt: {error}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| WebError::Accounts(format!("cannot hash the password: {error}")))
}

/// Checks a password against a PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the operating system gives random bytes");
    bytes
}

/// A random URL-safe secret of 32 bytes.
pub fn random_secret() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Adds an account. Fails when the name exists or the password is too short.
pub fn add_account(file: &Path, name: &str, role: Role, password: &str) -> Result<(), WebError> {
    check_name(name)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(WebError::Accounts(format!(
            "the password is too short: use at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let mut accounts = load(file)?;
    if accounts.accounts.iter().any(|account| account.name == name) {
        return Err(WebError::Accounts(format!(
            "account {name:?} exists already; remove it first to change it"
        )));
    }
    accounts.accounts.push(Account {
        name: name.to_string(),
        role,
        password: hash_password(password)?,
        created: now_rfc3339(),
        api_keys: Vec::new(),
    });
    save(file, &accounts)
}

/// Removes an account (and its API keys). Returns whether it existed.
pub fn remove_account(file: &Path, name: &str) -> Result<bool, WebError> {
    let mut accounts = load(file)?;
    let before = accounts.accounts.len();
    accounts.accounts.retain(|account| account.name != name);
    if accounts.accounts.len() == before {
        return Ok(false);
    }
    save(file, &accounts)?;
    Ok(true)
}

/// Lists the accounts, without secrets.
pub fn list_accounts(file: &Path) -> Result<Vec<AccountSummary>, WebError> {
    Ok(load(file)?
        .accounts
        .into_iter()
        .map(|account| AccountSummary {
            name: account.name,
            role: account.role,
            created: account.created,
            api_keys: account
                .api_keys
                .into_iter()
                .map(|key| format!("{} {}", key.id, key.label))
                .collect(),
        })
        .collect())
}

/// Creates an API key for `name` and returns it; only its hash is stored, so this is the one
/// time it can be read. Keys look like `tt_<id>_<secret>`.
pub fn create_api_key(file: &Path, name: &str, label: &str) -> Result<String, WebError> {
    let mut accounts = load(file)?;
    let account = accounts
        .accounts
        .iter_mut()
        .find(|account| account.name == name)
        .ok_or_else(|| WebError::Accounts(format!("no account {name:?}")))?;
    let id: String = random_bytes::<6>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let key = format!("tt_{id}_{}", random_secret());
    account.api_keys.push(ApiKey {
        id,
        sha256: sha256_hex(&key),
        label: label.chars().filter(|c| !c.is_control()).take(80).collect(),
        created: now_rfc3339(),
    });
    save(file, &accounts)?;
    Ok(key)
}

/// Revokes the API key `id` of `name`. Returns whether it existed.
pub fn revoke_api_key(file: &Path, name: &str, id: &str) -> Result<bool, WebError> {
    let mut accounts = load(file)?;
    let Some(account) = accounts.accounts.iter_mut().find(|a| a.name == name) else {
        return Ok(false);
    };
    let before = account.api_keys.len();
    account.api_keys.retain(|key| key.id != id);
    let removed = account.api_keys.len() != before;
    if removed {
        save(file, &accounts)?;
    }
    Ok(removed)
}

/// For `tokentrail demo`: adds an admin account `demo-XXXX` with a random password to the
/// data directory's accounts file and returns its name and password (print them once).
pub fn create_one_time_admin(data_dir: &Path) -> Result<(String, String), WebError> {
    let suffix: String = random_bytes::<3>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let name = format!("demo-{suffix}");
    let password = random_secret()[..20].to_string();
    add_account(
        &default_accounts_file(data_dir),
        &name,
        Role::Admin,
        &password,
    )?;
    Ok((name, password))
}

/// A signed-in principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// The server's view of the accounts file, re-read when its modification time changes.
pub struct AccountStore {
    file: PathBuf,
    cache: RwLock<(Option<SystemTime>, AccountsFile)>,
    /// Verified against when the name is unknown, so both cases take as long.
    dummy_hash: String,
}

impl AccountStore {
    /// Opens (and reads) the accounts file.
    pub fn open(file: PathBuf) -> Result<Self, WebError> {
        let accounts = load(&file)?;
        let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        Ok(AccountStore {
            file,
            cache: RwLock::new((modified, accounts)),
            dummy_hash: hash_password("not a real password, only for timing")?,
        })
    }

    /// The file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The current accounts (re-read when the file changed).
    pub fn snapshot(&self) -> AccountsFile {
        let modified = std::fs::metadata(&self.file)
            .and_then(|m| m.modified())
            .ok();
        {
            let cache = self.cache.read().expect("accounts lock");
            if cache.0 == modified {
                return cache.1.clone();
            }
        }
        match load(&self.file) {
            Ok(accounts) => {
                let mut cache = self.cache.write().expect("accounts lock");
                *cache = (modified, accounts.clone());
                accounts
            }
            Err(error) => {
                tracing::error!(file = %self.file.display(), %error, "cannot re-read the accounts file; keeping the last good copy");
                self.cache.read().expect("accounts lock").1.clone()
            }
        }
    }

    /// Whether any account exists.
    pub fn is_empty(&self) -> bool {
        self.snapshot().accounts.is_empty()
    }

    /// The role of `name`, if the account still exists.
    pub fn role_of(&self, name: &str) -> Option<Role> {
        self.snapshot()
            .accounts
            .iter()
            .find(|account| account.name == name)
            .map(|account| account.role)
    }

    /// Checks a name and password (slow: argon2; call from a blocking thread).
    pub fn verify_login(&self, name: &str, password: &str) -> Option<Principal> {
        let accounts = self.snapshot();
        match accounts
            .accounts
            .iter()
            .find(|account| account.name == name)
        {
            Some(account) => verify_password(password, &account.password).then(|| Principal {
                name: account.name.clone(),
                role: account.role,
            }),
            None => {
                let _ = verify_password(password, &self.dummy_hash);
                None
            }
        }
    }

    /// Checks an API key `tt_<id>_<secret>`.
    pub fn verify_api_key(&self, key: &str) -> Option<Principal> {
        let id = key.strip_prefix("tt_")?.split('_').next()?;
        let digest = sha256_hex(key);
        let accounts = self.snapshot();
        for account in &accounts.accounts {
            for stored in &account.api_keys {
                if stored.id == id && bool::from(stored.sha256.as_bytes().ct_eq(digest.as_bytes()))
                {
                    return Some(Principal {
                        name: account.name.clone(),
                        role: account.role,
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_list_and_remove_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let file = default_accounts_file(dir.path());
        add_account(&file, "alice", Role::Admin, "correct horse battery").unwrap();
        assert!(add_account(&file, "alice", Role::Viewer, "another password").is_err());
        assert!(add_account(&file, "bob", Role::Viewer, "short").is_err());
        assert!(add_account(&file, "b<ob>", Role::Viewer, "long enough password").is_err());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("correct horse"), "password stored in clear");
        let store = AccountStore::open(file.clone()).unwrap();
        assert_eq!(
            store.verify_login("alice", "correct horse battery"),
            Some(Principal {
                name: "alice".into(),
                role: Role::Admin
            })
        );
        assert_eq!(store.verify_login("alice", "wrong"), None);
        assert_eq!(store.verify_login("nobody", "correct horse battery"), None);
        let key = create_api_key(&file, "alice", "script").unwrap();
        assert!(!std::fs::read_to_string(&file).unwrap().contains(&key));
        assert_eq!(store.verify_api_key(&key).unwrap().name, "alice");
        assert_eq!(store.verify_api_key(&format!("{key}x")), None);
        assert_eq!(list_accounts(&file).unwrap().len(), 1);
        assert!(remove_account(&file, "alice").unwrap());
        assert!(!remove_account(&file, "alice").unwrap());
        assert_eq!(store.verify_api_key(&key), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "accounts file readable by others");
        }
    }

    #[test]
    fn one_time_admin_can_log_in() {
        let dir = tempfile::tempdir().unwrap();
        let (name, password) = create_one_time_admin(dir.path()).unwrap();
        let store = AccountStore::open(default_accounts_file(dir.path())).unwrap();
        assert_eq!(
            store.verify_login(&name, &password).unwrap().role,
            Role::Admin
        );
    }
}

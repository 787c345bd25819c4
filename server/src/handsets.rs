//! The handsets file: which devices may fetch tokens, and how calls reach them.
//!
//! ```toml
//! [[handset]]
//! id = "desk-1"                 # the HTTP Basic user name the handset logs in with
//! identity = "desk"             # its Voice SDK identity (client:desk); default: the id
//! extension = "101"             # what other handsets dial to reach it
//! display_name = "Desk"
//! secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$…"   # offhook-server hash-secret
//! numbers = ["+14155550100"]    # optional: numbers that ring it; default TWILIO_PHONE_NUMBER
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::phone::E164;
use crate::secret::{self, StoredHash};

/// Longest handset id (the HTTP Basic user name).
pub const MAX_ID_LEN: usize = 64;

/// Numbers that must reach emergency services, never a handset.
const RESERVED_EXTENSIONS: &[&str] = &["000", "110", "112", "119", "911", "999"];

#[derive(Debug, Clone)]
pub struct Handset {
    pub id: String,
    pub identity: String,
    pub extension: String,
    pub display_name: String,
    /// Numbers whose incoming calls ring this handset; empty: the account's main number.
    pub numbers: Vec<E164>,
    secret: StoredHash,
}

/// One `[[handset]]` table as written in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandsetEntry {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    pub extension: String,
    pub display_name: String,
    pub secret_hash: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct HandsetsFile {
    #[serde(default, rename = "handset")]
    handsets: Vec<HandsetEntry>,
}

impl Handset {
    /// A handset with a plain secret, hashed here (for in-process servers: the lab and
    /// `offhook demo`).
    pub fn with_secret(
        id: &str,
        identity: &str,
        extension: &str,
        display_name: &str,
        secret: &str,
    ) -> Result<Handset, Error> {
        Handset::from_entry(HandsetEntry {
            id: id.into(),
            identity: Some(identity.into()),
            extension: extension.into(),
            display_name: display_name.into(),
            secret_hash: secret::hash(secret)?,
            numbers: Vec::new(),
        })
        .map_err(|problem| Error::Handsets {
            path: PathBuf::from("(in memory)"),
            problem,
        })
    }

    /// Validates one entry of the file.
    pub fn from_entry(entry: HandsetEntry) -> Result<Handset, String> {
        let id = entry.id.trim().to_string();
        let label = format!("handset {id:?}");
        if !token_chars(&id, MAX_ID_LEN) {
            return Err(format!(
                "{label}: id must be 1–64 letters, digits, '_', '-' or '.'"
            ));
        }
        let identity = entry
            .identity
            .map_or_else(|| id.clone(), |i| i.trim().to_string());
        if !token_chars(&identity, 121) {
            return Err(format!(
                "{label}: identity must be 1–121 letters, digits, '_', '-' or '.'"
            ));
        }
        let extension = entry.extension.trim().to_string();
        if extension.is_empty()
            || extension.len() > 8
            || !extension.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("{label}: extension must be 1–8 digits"));
        }
        if RESERVED_EXTENSIONS.contains(&extension.as_str()) {
            return Err(format!(
                "{label}: extension {extension} is an emergency number"
            ));
        }
        let display_name = entry.display_name.trim().to_string();
        if display_name.is_empty()
            || display_name.chars().count() > 64
            || display_name.chars().any(char::is_control)
        {
            return Err(format!(
                "{label}: display_name must be 1–64 printable characters"
            ));
        }
        let secret = StoredHash::parse(&entry.secret_hash)
            .map_err(|e| format!("{label}: secret_hash: {e}"))?;
        let numbers = entry
            .numbers
            .iter()
            .map(|n| E164::parse(n).map_err(|e| format!("{label}: number {n:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Handset {
            id,
            identity,
            extension,
            display_name,
            numbers,
            secret,
        })
    }

    /// The entry this handset was made from (its secret as the stored hash).
    pub fn to_entry(&self) -> HandsetEntry {
        HandsetEntry {
            id: self.id.clone(),
            identity: Some(self.identity.clone()),
            extension: self.extension.clone(),
            display_name: self.display_name.clone(),
            secret_hash: self.secret.as_phc_string(),
            numbers: self.numbers.iter().map(ToString::to_string).collect(),
        }
    }

    /// Whether `secret` is this handset's (runs the full Argon2 hash).
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret.matches(secret)
    }

    /// Whether a call to `number` rings this handset.
    pub fn rings_for(&self, number: &E164, main_number: &E164) -> bool {
        if self.numbers.is_empty() {
            number == main_number
        } else {
            self.numbers.contains(number)
        }
    }
}

fn token_chars(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Every configured handset, checked for clashes.
#[derive(Debug, Clone)]
pub struct Handsets {
    list: Vec<Handset>,
    /// Verified against when a device id is unknown, so both cases cost the same.
    dummy: StoredHash,
}

impl Handsets {
    pub fn new(list: Vec<Handset>) -> Result<Handsets, String> {
        if list.is_empty() {
            return Err("no handsets are listed; add one with `offhook-server add-handset`".into());
        }
        Handsets::any(list)
    }

    /// Like [`Handsets::new`], but an empty list is fine (a server whose handsets are added
    /// in `/admin`).
    pub fn any(list: Vec<Handset>) -> Result<Handsets, String> {
        let mut seen = HashSet::new();
        for h in &list {
            for (what, value) in [
                ("id", &h.id),
                ("identity", &h.identity),
                ("extension", &h.extension),
            ] {
                if !seen.insert((what, value.as_str())) {
                    return Err(format!("{what} {value:?} is used by more than one handset"));
                }
            }
        }
        let dummy = match list.first() {
            Some(first) => first.secret.dummy_like(),
            None => StoredHash::dummy_default(),
        }
        .map_err(|e| e.to_string())?;
        Ok(Handsets { list, dummy })
    }

    /// Validated handsets from entries (the database's rows); an empty list is fine.
    pub fn from_entries(entries: Vec<HandsetEntry>) -> Result<Handsets, String> {
        let list = entries
            .into_iter()
            .map(Handset::from_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Handsets::any(list)
    }

    /// The handsets file's entries, validated together (clashes included), to import into the
    /// database; a missing file has none.
    pub fn file_entries(path: &Path) -> Result<Vec<HandsetEntry>, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Handsets {
                    path: path.to_path_buf(),
                    problem: format!("cannot read it ({e})"),
                });
            }
        };
        let fail = |problem: String| Error::Handsets {
            path: path.to_path_buf(),
            problem,
        };
        let file: HandsetsFile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let checked = file
            .handsets
            .into_iter()
            .map(Handset::from_entry)
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        let checked = Handsets::any(checked).map_err(fail)?;
        Ok(checked.iter().map(Handset::to_entry).collect())
    }

    /// Reads and validates the handsets file.
    pub fn load(path: &Path) -> Result<Handsets, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Handsets {
            path: path.to_path_buf(),
            problem: format!("cannot read it ({e}); create it with `offhook-server add-handset`"),
        })?;
        Handsets::from_toml(&text, path)
    }

    /// Parses handsets-file text; `path` only labels errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Handsets, Error> {
        let fail = |problem: String| Error::Handsets {
            path: path.to_path_buf(),
            problem,
        };
        let file: HandsetsFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        let list = file
            .handsets
            .into_iter()
            .map(Handset::from_entry)
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        Handsets::new(list).map_err(fail)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Handset> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn by_id(&self, id: &str) -> Option<&Handset> {
        self.list.iter().find(|h| h.id == id)
    }

    pub fn by_identity(&self, identity: &str) -> Option<&Handset> {
        self.list.iter().find(|h| h.identity == identity)
    }

    pub fn by_extension(&self, extension: &str) -> Option<&Handset> {
        self.list.iter().find(|h| h.extension == extension)
    }

    /// The handsets a call to `number` rings.
    pub fn ringing_for<'a>(
        &'a self,
        number: &'a E164,
        main_number: &'a E164,
    ) -> impl Iterator<Item = &'a Handset> {
        self.list
            .iter()
            .filter(move |h| h.rings_for(number, main_number))
    }

    /// The handset with this id and secret, if both match. Always runs one full hash,
    /// whether or not the id exists. Blocking: call it off the async runtime.
    pub fn authenticate(&self, id: &str, secret: &str) -> Option<&Handset> {
        match self.by_id(id) {
            Some(handset) => handset.secret_matches(secret).then_some(handset),
            None => {
                let _ = self.dummy.matches(secret);
                None
            }
        }
    }
}

/// Appends a handset to the file at `path` (creating it), after checking that the result
/// is still a valid handsets file. Returns the validated entry.
///
/// Two `add-handset` runs at once must not lose one of the entries, and a crash mid-write
/// must not leave half a file: the read-modify-write holds a lock (`<path>.lock`), and the
/// new file is written beside the old one, synced and renamed over it, mode 0640 (it holds
/// secret hashes; the server's group reads it).
pub fn append_to_file(path: &Path, entry: HandsetEntry) -> Result<Handset, Error> {
    let _lock = lock_beside(path)?;
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            String::from("# offhook handsets: one [[handset]] table per device (see README.md).\n")
        }
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    let table = toml::to_string(&HandsetsFile {
        handsets: vec![entry.clone()],
    })
    .map_err(|e| Error::Handsets {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    let mut combined = existing;
    if !combined.is_empty() && !combined.ends_with('\n') {
        combined.push('\n');
    }
    combined.push('\n');
    combined.push_str(&table);
    let handsets = Handsets::from_toml(&combined, path)?;
    write_atomic(path, combined.as_bytes())
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    let id = entry.id.trim();
    handsets.by_id(id).cloned().ok_or_else(|| Error::Handsets {
        path: path.to_path_buf(),
        problem: format!("handset {id:?} vanished after writing"),
    })
}

/// Mode of the handsets file: the owner writes, the server's group reads, nobody else.
const FILE_MODE: u32 = 0o640;

/// An exclusive lock on `<path>.lock`, held until the returned file is dropped.
fn lock_beside(path: &Path) -> Result<std::fs::File, Error> {
    let mut name = path.as_os_str().to_os_string();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(format!("cannot open {}", lock_path.display()), e))?;
    file.lock()
        .map_err(|e| Error::io(format!("cannot lock {}", lock_path.display()), e))?;
    Ok(file)
}

/// Temp file beside `path`, fsync, rename over `path`, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&temp)?;
        // The file replaced keeps its owner and group (the package gives it to
        // root:offhook-server so that the service can read it), and the mode is exactly
        // FILE_MODE whatever the umask.
        if let Ok(old) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt as _;
            std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::secret::tests::cheap;

    pub(crate) fn entry(id: &str, extension: &str, secret: &str) -> HandsetEntry {
        HandsetEntry {
            id: id.into(),
            identity: None,
            extension: extension.into(),
            display_name: format!("Phone {id}"),
            secret_hash: secret::hash_with(secret, cheap()).unwrap(),
            numbers: vec![],
        }
    }

    pub(crate) fn toml_of(entries: Vec<HandsetEntry>) -> String {
        toml::to_string(&HandsetsFile { handsets: entries }).unwrap()
    }

    fn load(text: &str) -> Result<Handsets, String> {
        Handsets::from_toml(text, Path::new("handsets.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn loads_and_looks_up() {
        let mut kitchen = entry("kitchen", "102", "k");
        kitchen.identity = Some("kitchen_phone".into());
        kitchen.numbers = vec!["+12031234567".into()];
        let h = load(&toml_of(vec![entry("desk", "101", "d"), kitchen])).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h.by_id("desk").unwrap().identity, "desk");
        assert_eq!(h.by_extension("102").unwrap().identity, "kitchen_phone");
        assert_eq!(h.by_identity("kitchen_phone").unwrap().id, "kitchen");
        assert!(h.authenticate("desk", "d").is_some());
        assert!(h.authenticate("desk", "k").is_none());
        assert!(h.authenticate("nobody", "d").is_none());
        let main = E164::parse("+447381234567").unwrap();
        let other = E164::parse("+12031234567").unwrap();
        let ids = |n: &E164| {
            h.ringing_for(n, &main)
                .map(|x| x.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&main), vec!["desk"]);
        assert_eq!(ids(&other), vec!["kitchen"]);
    }

    #[test]
    fn problems_are_named() {
        let cases: Vec<(Vec<HandsetEntry>, &str)> = vec![
            (vec![], "no handsets are listed"),
            (
                vec![entry("a", "101", "x"), entry("a", "102", "x")],
                "id \"a\" is used by more than one",
            ),
            (
                vec![entry("a", "101", "x"), entry("b", "101", "x")],
                "extension \"101\" is used",
            ),
            (vec![entry("a:b", "101", "x")], "id must be"),
            (vec![entry("a", "1o1", "x")], "extension must be 1–8 digits"),
            (vec![entry("a", "911", "x")], "emergency number"),
            (
                vec![HandsetEntry {
                    secret_hash: "hunter2".into(),
                    ..entry("a", "101", "x")
                }],
                "secret_hash: not a PHC",
            ),
            (
                vec![HandsetEntry {
                    display_name: " ".into(),
                    ..entry("a", "101", "x")
                }],
                "display_name",
            ),
            (
                vec![HandsetEntry {
                    numbers: vec!["555".into()],
                    ..entry("a", "101", "x")
                }],
                "number \"555\"",
            ),
            (
                vec![HandsetEntry {
                    identity: Some("b c".into()),
                    ..entry("a", "101", "x")
                }],
                "identity must be",
            ),
        ];
        for (entries, expected) in cases {
            let err = load(&toml_of(entries)).unwrap_err();
            assert!(err.starts_with("handsets file handsets.toml: "), "{err}");
            assert!(err.contains(expected), "{err} / {expected}");
        }
        let err = load("[[handset]]\nid = 1\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = load("[[handset]]\nid = \"a\"\nsurprise = true\n").unwrap_err();
        assert!(err.contains("surprise"), "{err}");
    }

    #[test]
    fn missing_file_says_how_to_create_it() {
        let err = Handsets::load(Path::new("/nonexistent/offhook/handsets.toml")).unwrap_err();
        assert!(
            err.to_string().contains("offhook-server add-handset"),
            "{err}"
        );
    }

    #[test]
    fn append_creates_and_validates() {
        let dir = std::env::temp_dir().join(format!("offhook-server-hs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("handsets.toml");
        std::fs::remove_file(&path).ok();
        append_to_file(&path, entry("desk", "101", "d")).unwrap();
        let added = append_to_file(&path, entry("kitchen", "102", "k")).unwrap();
        assert_eq!(added.extension, "102");
        let clash = append_to_file(&path, entry("hall", "101", "h")).unwrap_err();
        assert!(clash.to_string().contains("extension \"101\""), "{clash}");
        let loaded = Handsets::load(&path).unwrap();
        assert_eq!(loaded.len(), 2, "a refused entry must not be written");
        assert!(loaded.authenticate("kitchen", "k").is_some());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_append_keeps_the_files_owner_and_group_and_mode_0640() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = std::env::temp_dir().join(format!("offhook-server-hs-o-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("handsets.toml");
        std::fs::write(&path, toml_of(vec![entry("desk", "101", "d")])).unwrap();
        // As the package leaves it: another group (root can give any; others keep their own).
        let me = std::fs::metadata(&path).unwrap();
        let group = if me.uid() == 0 { 4242 } else { me.gid() };
        std::os::unix::fs::chown(&path, None, Some(group)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        append_to_file(&path, entry("kitchen", "102", "k")).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(after.permissions().mode() & 0o777, 0o640);
        assert_eq!(
            (after.uid(), after.gid()),
            (me.uid(), group),
            "owner and group kept"
        );
        assert_eq!(Handsets::load(&path).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn concurrent_appends_lose_nothing_and_the_file_is_0640() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("offhook-server-hs-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("handsets.toml");
        std::fs::remove_file(&path).ok();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    append_to_file(&path, entry(&format!("h{i}"), &format!("2{i:02}"), "s"))
                        .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(Handsets::load(&path).unwrap().len(), 8, "every entry kept");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "mode {mode:o}");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

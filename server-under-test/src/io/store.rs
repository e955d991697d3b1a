//! The durable store of `emlab serve --state FILE`: what the server must
//! not forget when it is killed (issue 12, TIME-6).
//!
//! The lab file stays the source of the directory; the store records what
//! changed since: sessions (who, where, since when, timers), remembered
//! last users, saved DND and Call Backs, PIN changes, live service
//! parameters, and the lab clock. Rows are keyed by the lab's names, not by
//! index, so a state file outlives a lab file that gains entries.
//!
//! Why SQLite (rusqlite, bundled) and not redb: in WAL mode with
//! `synchronous=NORMAL`, SQLite makes a commit survive the death of the
//! process (kill -9) as soon as `write(2)` returns, and fsyncs only at
//! checkpoints; only a power loss can roll back the last commits. redb
//! makes a commit survive a crash only by fsyncing it, a disk flush per
//! commit on the request path (emlab did not build a redb store to measure
//! it). SQLite's format is also stable and inspectable with the `sqlite3`
//! shell, which a lab operator may well have.
//!
//! Group commit: a request changes the state in memory, then commits and
//! waits for the commit before it answers. Commits take turns under one
//! async lock, and each takes every change made since the last one, so
//! clients that changed something while a commit ran share the next one
//! and the others find their changes already in the file. (In
//! bench/state-vs-memory.sh a commit takes a few microseconds, so most
//! commits hold one change.) A checkpoint (the only fsync) runs every
//! 100 ms on a blocking thread.

use crate::core::saved::{
    ClockRow, CredentialRow, DeviceRow, LoginRow, Rows, UserFeaturesRow, unix_ms,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the `format` row of a state file says.
pub const FORMAT: &str = "emlab-state";
/// The layout this emlab writes and reads. A file with another one is
/// refused, never converted silently.
pub const VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE devices (
    device TEXT PRIMARY KEY,
    user TEXT, profile TEXT, since_ms INTEGER, expires_ms INTEGER,
    idle_minutes INTEGER, idle_deadline_ms INTEGER,
    logout_on_hook INTEGER NOT NULL, last_user TEXT) WITHOUT ROWID;
CREATE TABLE user_features (user TEXT PRIMARY KEY, dnd TEXT, call_backs TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE device_dnd (device TEXT PRIMARY KEY, dnd TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE credentials (
    user TEXT PRIMARY KEY, secret TEXT NOT NULL, must_change INTEGER NOT NULL,
    cached TEXT, cached_until_ms INTEGER) WITHOUT ROWID;
";
// WITHOUT ROWID: each table is one b-tree keyed by its name, so saving a
// device touches one leaf page, not a row page and an index page.

/// A state file that cannot be used; the text names the file and why.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// The open state file. Dropping it closes the file.
pub struct Store {
    path: PathBuf,
    writer: Arc<tokio::sync::Mutex<Writer>>,
}

/// The connection, and rows whose commit failed, to go out with the next.
struct Writer {
    conn: Connection,
    pending: Vec<Rows>,
    /// Commits since the last checkpoint.
    unchecked: u64,
}

/// A commit that did not reach the file (disk full, file removed, ...).
#[derive(Debug)]
pub struct CommitFailed;

/// SQLite stores signed 64-bit integers; a saturated lab clock is clamped.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64) -> u64 {
    v.max(0) as u64
}

impl Store {
    /// Opens (or creates) the state file and reads back what it holds.
    /// A file that is not an emlab state file, is corrupt, has another
    /// layout version, or is in use by another server is refused.
    pub fn open(path: &Path) -> Result<(Store, Rows), StoreError> {
        let name = path.display().to_string();
        let fail = |why: String| StoreError(format!("state file {name}: {why}"));
        let sql = |e: rusqlite::Error| {
            let why = match &e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    "not an emlab state file, or corrupt (not an SQLite database)".to_string()
                }
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy
                        || f.code == rusqlite::ErrorCode::DatabaseLocked =>
                {
                    "in use by another emlab serve".to_string()
                }
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseCorrupt =>
                {
                    format!("corrupt ({e})")
                }
                _ => e.to_string(),
            };
            fail(why)
        };
        let mut conn = Connection::open(path).map_err(sql)?;
        // The smallest pages SQLite allows: a commit writes whole pages to
        // the log, and a login changes one short row. In
        // bench/state-vs-memory.sh, `--state` did 0.44-0.46 x the
        // in-memory ops/s with 4 KiB pages, 0.46-0.58 x with 1 KiB. Only
        // a new file takes it.
        conn.pragma_update(None, "page_size", 512).map_err(sql)?;
        // One server per state file: the first write lock is kept.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(sql)?;
        let check: String = conn
            .pragma_query_value(None, "quick_check", |r| r.get(0))
            .map_err(sql)?;
        if check != "ok" {
            return Err(fail(format!("corrupt (SQLite quick_check: {check})")));
        }
        // WAL + NORMAL: a commit is in the file once write(2) returns, so
        // it outlives kill -9; see the module comment.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail(format!(
                "cannot use write-ahead logging (mode {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        // Checkpoints fsync; they run off the request path (`checkpoint`),
        // and a log that grew in a storm shrinks back after one.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sql)?;
        conn.pragma_update(None, "journal_size_limit", 4 << 20)
            .map_err(sql)?;
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql)?
            > 0;
        if has_meta {
            let meta = |key: &str| {
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
            };
            let format = meta("format").map_err(sql)?;
            if format.as_deref() != Some(FORMAT) {
                return Err(fail("not an emlab state file (no `format` row)".into()));
            }
            let version = meta("version").map_err(sql)?.unwrap_or_default();
            if version != VERSION.to_string() {
                return Err(fail(format!(
                    "written by another version of emlab (state layout {version}; this emlab reads layout {VERSION}); start with a new file, or the emlab that wrote it"
                )));
            }
        } else {
            let tables: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql)?;
            if tables > 0 {
                return Err(fail(
                    "an SQLite database, but not an emlab state file".into(),
                ));
            }
            let tx = conn.transaction().map_err(sql)?;
            tx.execute_batch(SCHEMA).map_err(sql)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('format', ?1), ('version', ?2)",
                params![FORMAT, VERSION.to_string()],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        // A write now takes the exclusive lock and keeps it: a second
        // server on this file is refused here, not at its first login.
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_wall_ms', ?1)",
            [unix_ms().to_string()],
        )
        .map_err(sql)?;
        let rows = read_all(&conn).map_err(sql)?;
        Ok((
            Store {
                path: path.to_path_buf(),
                writer: Arc::new(tokio::sync::Mutex::new(Writer {
                    conn,
                    pending: Vec::new(),
                    unchecked: 0,
                })),
            },
            rows,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the changes and commits them before returning. `collect`
    /// runs under the commit lock, so commits hold their changes in the
    /// order they were taken; a caller whose changes a commit in progress
    /// already took finds nothing left and returns once that commit is in
    /// the file. The commit runs on the calling task: with write-ahead
    /// logging it is a `write(2)`, no fsync (see [`Store::checkpoint`]).
    pub async fn commit(&self, collect: impl FnOnce() -> Rows) -> Result<(), CommitFailed> {
        let mut w = self.writer.lock().await;
        let rows = collect();
        if !rows.is_empty() {
            w.pending.push(rows);
        }
        if w.pending.is_empty() {
            return Ok(());
        }
        let w = &mut *w;
        match write(&mut w.conn, &w.pending) {
            Ok(()) => {
                w.pending.clear();
                w.unchecked += 1;
                Ok(())
            }
            Err(e) => {
                // Kept in `pending`: retried with the next commit.
                tracing::error!(state = %self.path.display(), error = %e, "state not saved; retrying with the next change");
                Err(CommitFailed)
            }
        }
    }

    /// Copies the write-ahead log into the file and fsyncs both, on a
    /// blocking thread; commits wait meanwhile. Run every 100 ms, so a
    /// power loss (not a kill -9, which loses nothing) can lose at most
    /// about that much, and the log stays short: SQLite's index of the log
    /// costs more to append to as it grows (4.8 % of the server's CPU with
    /// a checkpoint a second; with 100 ms, `--state` went from 0.47-0.59 x
    /// to 0.56-0.60 x the in-memory ops/s in bench/state-vs-memory.sh).
    pub async fn checkpoint(&self) {
        let mut w = self.writer.clone().lock_owned().await;
        if w.unchecked == 0 {
            return;
        }
        let path = self.path.display().to_string();
        let _ = tokio::task::spawn_blocking(move || {
            match w
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                Ok(()) => w.unchecked = 0,
                Err(e) => tracing::error!(state = %path, error = %e, "checkpoint failed"),
            }
        })
        .await;
    }
}

/// One transaction for every batch given, oldest first. BEGIN and COMMIT
/// are cached statements: a commit per login cannot afford to parse SQL.
fn write(conn: &mut Connection, batches: &[Rows]) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let written = batches.iter().try_for_each(|rows| write_rows(conn, rows));
    match written.and_then(|()| conn.prepare_cached("COMMIT")?.execute([]).map(drop)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn write_rows(conn: &Connection, rows: &Rows) -> rusqlite::Result<()> {
    let mut device = conn.prepare_cached(
        "INSERT OR REPLACE INTO devices (device, user, profile, since_ms, expires_ms,
         idle_minutes, idle_deadline_ms, logout_on_hook, last_user)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for d in &rows.devices {
        let l = d.login.as_ref();
        device.execute(params![
            d.device,
            l.map(|l| &l.user),
            l.map(|l| &l.profile),
            l.map(|l| int(l.since_ms)),
            l.and_then(|l| l.expires_ms).map(int),
            l.and_then(|l| l.idle_minutes),
            d.idle_deadline_ms.map(int),
            d.logout_on_hook,
            d.last_user,
        ])?;
    }
    let mut features = conn.prepare_cached(
        "INSERT OR REPLACE INTO user_features (user, dnd, call_backs) VALUES (?1, ?2, ?3)",
    )?;
    for u in &rows.user_features {
        let call_backs = serde_json::to_string(&u.call_backs).unwrap_or_default();
        features.execute(params![u.user, u.dnd, call_backs])?;
    }
    let mut dnd =
        conn.prepare_cached("INSERT OR REPLACE INTO device_dnd (device, dnd) VALUES (?1, ?2)")?;
    for (d, json) in &rows.device_dnd {
        dnd.execute(params![d, json])?;
    }
    let mut credential = conn.prepare_cached(
        "INSERT OR REPLACE INTO credentials (user, secret, must_change, cached, cached_until_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for c in &rows.credentials {
        credential.execute(params![
            c.user,
            c.secret,
            c.must_change,
            c.cached.as_ref().map(|(pin, _)| pin),
            c.cached.as_ref().map(|&(_, until)| int(until)),
        ])?;
    }
    let mut meta =
        conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
    if let Some(p) = &rows.parameters {
        meta.execute(params!["parameters", p])?;
    }
    if let Some(c) = rows.clock {
        meta.execute(params!["clock_lab_ms", c.lab_ms.to_string()])?;
        meta.execute(params!["clock_wall_ms", c.wall_ms.to_string()])?;
    }
    if let Some(t) = rows.time_of_day_checked_ms {
        meta.execute(params!["time_of_day_checked_ms", t.to_string()])?;
    }
    Ok(())
}

fn read_all(conn: &Connection) -> rusqlite::Result<Rows> {
    let mut rows = Rows::default();
    let mut stmt = conn.prepare(
        "SELECT device, user, profile, since_ms, expires_ms, idle_minutes, idle_deadline_ms,
         logout_on_hook, last_user FROM devices ORDER BY device",
    )?;
    rows.devices = stmt
        .query_map([], |r| {
            let user: Option<String> = r.get(1)?;
            let profile: Option<String> = r.get(2)?;
            let login = match (user, profile) {
                (Some(user), Some(profile)) => Some(LoginRow {
                    user,
                    profile,
                    since_ms: uint(r.get::<_, Option<i64>>(3)?.unwrap_or(0)),
                    expires_ms: r.get::<_, Option<i64>>(4)?.map(uint),
                    idle_minutes: r.get(5)?,
                }),
                _ => None,
            };
            Ok(DeviceRow {
                device: r.get(0)?,
                login,
                idle_deadline_ms: r.get::<_, Option<i64>>(6)?.map(uint),
                logout_on_hook: r.get(7)?,
                last_user: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare("SELECT user, dnd, call_backs FROM user_features ORDER BY user")?;
    rows.user_features = stmt
        .query_map([], |r| {
            let call_backs: String = r.get(2)?;
            Ok(UserFeaturesRow {
                user: r.get(0)?,
                dnd: r.get(1)?,
                // Written by `write_rows` as a JSON array of strings.
                call_backs: serde_json::from_str(&call_backs).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        2,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare("SELECT device, dnd FROM device_dnd ORDER BY device")?;
    rows.device_dnd = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT user, secret, must_change, cached, cached_until_ms FROM credentials ORDER BY user",
    )?;
    rows.credentials = stmt
        .query_map([], |r| {
            let cached: Option<String> = r.get(3)?;
            let until: Option<i64> = r.get(4)?;
            Ok(CredentialRow {
                user: r.get(0)?,
                secret: r.get(1)?,
                must_change: r.get(2)?,
                cached: cached.zip(until.map(uint)),
            })
        })?
        .collect::<Result<_, _>>()?;
    let meta = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    rows.parameters = meta("parameters")?;
    let number = |key: &str| -> rusqlite::Result<Option<u64>> {
        Ok(meta(key)?.and_then(|v| v.parse().ok()))
    };
    if let (Some(lab_ms), Some(wall_ms)) = (number("clock_lab_ms")?, number("clock_wall_ms")?) {
        rows.clock = Some(ClockRow { lab_ms, wall_ms });
    }
    rows.time_of_day_checked_ms = number("time_of_day_checked_ms")?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("emlab-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("state.db")
    }

    fn sample() -> Rows {
        Rows {
            devices: vec![DeviceRow {
                device: "SEP000000000001".into(),
                login: Some(LoginRow {
                    user: "alice".into(),
                    profile: "alice-7960".into(),
                    since_ms: 5,
                    expires_ms: Some(u64::MAX),
                    idle_minutes: Some(3),
                }),
                idle_deadline_ms: Some(185_005),
                logout_on_hook: true,
                last_user: Some("alice".into()),
            }],
            user_features: vec![UserFeaturesRow {
                user: "alice".into(),
                dnd: Some("{\"status\":true,\"alert\":\"beep-only\"}".into()),
                call_backs: vec!["1002".into()],
            }],
            device_dnd: vec![("SEP000000000002".into(), "{}".into())],
            credentials: vec![CredentialRow {
                user: "alice".into(),
                secret: "9999".into(),
                must_change: false,
                cached: Some(("1234".into(), 120_005)),
            }],
            parameters: Some("{\"cache_size\":7}".into()),
            clock: Some(ClockRow {
                lab_ms: 42,
                wall_ms: 0,
            }),
            time_of_day_checked_ms: Some(41),
        }
    }

    /// Everything written comes back as written, after the store is gone.
    #[tokio::test]
    async fn rows_written_are_read_back_after_a_reopen() {
        let path = temp("roundtrip");
        let (store, empty) = Store::open(&path).unwrap();
        assert_eq!(empty, Rows::default());
        store.commit(sample).await.unwrap();
        drop(store);
        let (_, rows) = Store::open(&path).expect("the state file reopens");
        let mut expected = sample();
        // Clamped to what SQLite holds.
        expected.devices[0].login.as_mut().unwrap().expires_ms = Some(i64::MAX as u64);
        assert_eq!(rows, expected);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_by_name() {
        let path = temp("garbage");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let e = Store::open(&path).err().expect("refused").0;
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("not an emlab state file"), "{e}");
        // And the file is left as it was: never discarded.
        assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192]);
    }

    #[test]
    fn a_state_file_of_another_layout_version_is_refused() {
        let path = temp("version");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'version'", [])
            .unwrap();
        drop(conn);
        let e = Store::open(&path).err().expect("refused").0;
        assert!(e.contains("another version of emlab"), "{e}");
        assert!(e.contains("layout 99"), "{e}");
    }

    #[test]
    fn two_servers_cannot_share_a_state_file() {
        let path = temp("shared");
        let (_first, _) = Store::open(&path).unwrap();
        let e = Store::open(&path).err().expect("refused").0;
        assert!(e.contains("in use by another emlab serve"), "{e}");
    }
}

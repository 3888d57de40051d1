//! The SQLite database file on disk. It holds the raw personal identifiers kept for
//! re-identification, so a store that creates the file makes it, and any directory it makes
//! for it, the owner's alone (SQLite gives the write-ahead log and shared-memory files the
//! database file's mode), and opening a file other users can read logs a warning. An existing
//! file or directory keeps its mode: an administrator may have given a backup group access.

use std::io;
use std::path::Path;

use super::StoreError;

/// Makes ready the database file at `path`, named by a `sqlite:` URL whose query string is
/// `query`: its directory made if missing, the file created empty (which SQLite reads as a new
/// database) when the URL asks for it to be created (`mode=rwc`) and it does not exist.
pub(super) fn prepare(path: &Path, query: &str) -> Result<(), StoreError> {
    let failed = |at: &Path, source| StoreError::Dir {
        path: at.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        super::files::make_dir(dir).map_err(|e| failed(dir, e))?;
    }
    if query.split('&').any(|p| p == "mode=rwc") {
        match super::files::private_writer().create_new(true).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(path, e)),
        }
    }
    warn_if_shared(path);
    Ok(())
}

/// Whether the database file at `path` is not yet in write-ahead-log mode: empty (new), or
/// its header's read and write versions (bytes 18 and 19) not 2, SQLite's mark of the mode.
/// A file that cannot be read says yes, and opening it says why.
pub(super) fn needs_wal(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header));
    read.is_err() || header[18..20] != [2, 2]
}

/// Logs a warning when the file at `path` can be read or written by users other than its
/// owner.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    if let Some(mode) = super::files::mode_of(path).filter(|m| m & 0o077 != 0) {
        tracing::warn!(
            path = %path.display(),
            "the database file is open to other users (mode {mode:o}) and holds raw personal \
             identifiers: `chmod 600` it and its -wal and -shm files"
        );
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    #[cfg(unix)]
    use super::super::files::mode_of;

    #[tokio::test]
    async fn a_file_needs_the_write_ahead_log_until_a_store_has_opened_it() {
        let root = tempfile::tempdir().expect("dir");
        let db = root.path().join("supervise.db");
        assert!(super::needs_wal(&db), "no file yet");
        std::fs::File::create(&db).expect("empty file");
        assert!(super::needs_wal(&db), "an empty file");
        Store::open(&Store::default_url(root.path()))
            .await
            .expect("open");
        assert!(!super::needs_wal(&db), "once opened");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_database_and_its_directory_are_the_owners_alone() {
        let root = tempfile::tempdir().expect("dir");
        let home = root.path().join("home").join("deeper");
        let store = Store::open(&Store::default_url(&home)).await.expect("open");
        sqlx::query("SELECT COUNT(*) FROM regions")
            .fetch_one(store.pool())
            .await
            .expect("read");
        let db = home.join("supervise.db");
        assert_eq!(mode_of(&db), Some(0o600));
        assert_eq!(
            mode_of(&home.join("supervise.db-wal")),
            Some(0o600),
            "SQLite copies the mode"
        );
        assert_eq!(mode_of(&home), Some(0o700));
        assert_eq!(mode_of(home.parent().expect("parent")), Some(0o700));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_existing_database_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("dir");
        let first = Store::open(&Store::default_url(root.path()))
            .await
            .expect("open");
        first.pool().close().await;
        let db = root.path().join("supervise.db");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        Store::open(&Store::default_url(root.path()))
            .await
            .expect("open again");
        assert_eq!(
            mode_of(&db),
            Some(0o640),
            "left as the administrator set it"
        );
    }
}

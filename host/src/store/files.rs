//! Column files: the columns of committed imports copied to local disk as immutable files, one
//! per chunk column, so that a run whose columns are not in memory (the first after an import
//! or a restart) reads each with a few system calls, straight into the decoded column's
//! buffers ([`ColumnFiles::read_with`]), instead of through the database's pages and driver.
//! The database stays the record: a file is only ever a copy of a `chunk_columns` row (or the
//! key rows built from one, for an import made before imports kept them there), made as
//! the import writes it (or by `supervise data files` for an import made without them), and a
//! run reads a column whose file is missing or damaged from the database. (Runs
//! do not make files: on this project's machine, writing a first run's columns to disk while
//! it read them made that run twice as slow.)
//!
//! Layout: `<root>/<store identity>/<import>/<chunk>.<name in hex>`, where the name is a column's,
//! or `keys:<column>` for a pseudonym column's key rows (a copy of their row, see
//! `datasets::keys::kept_name`). The identity is a random value each database makes once (migration
//! 0012), so files made for one database are never read as another's. A file holds the bytes
//! followed by their CRC-32 (little-endian), checked on every read: a file cut short by a crash, or
//! damaged, fails it. Files are written under a temporary name and renamed into place, so a reader
//! sees a whole file or none. An import's files are written into a staging directory of their own
//! ([`Staged`]) and moved under the import's number only after it commits, so an import that rolls
//! back, or a process that dies mid-import, leaves none under a number a later import may take. Raw
//! identifiers (`raw:` columns, kept for re-identification) are never copied. Directories and
//! files are the owner's alone (modes 0700 and 0600 on Unix).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::datasets::chunk::RAW_PREFIX;

/// Staging directories older than this are left from a process that died mid-import and are
/// removed when the files are opened.
const STALE_STAGING: Duration = Duration::from_secs(24 * 3600);

/// The column files of one database (see the module's docs).
#[derive(Debug)]
pub struct ColumnFiles {
    dir: PathBuf,
    seq: AtomicU64,
}

/// The permission bits of the file or directory at `path` (`None` when it cannot be read).
#[cfg(unix)]
pub(crate) fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// Options that open a file for writing and create it, when they do, the owner's alone (mode
/// 0600 on Unix): the caller adds how (`create_new`, or `create` and `truncate`). For the
/// files that hold personal data or secrets.
pub(crate) fn private_writer() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes `dir` and those of its parents that are missing, the owner's alone (an existing one
/// keeps its mode).
pub(crate) fn make_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A chunk column's file name in its import's directory.
fn file_name(chunk: i64, name: &str) -> String {
    format!("{chunk}.{}", hex::encode(name))
}

impl ColumnFiles {
    /// The column files under `root` of the database whose identity is `identity` (a
    /// lower-case hex string); made if missing. Removes staging directories left by
    /// imports that died long ago.
    pub fn open(root: &Path, identity: &str) -> io::Result<ColumnFiles> {
        if identity.is_empty() || !identity.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the store's identity `{identity}` is not a hex string"),
            ));
        }
        let dir = root.join(identity);
        make_dir(&dir)?;
        let files = ColumnFiles {
            dir,
            seq: AtomicU64::new(0),
        };
        files.remove_stale_staging();
        Ok(files)
    }

    /// The directory holding this database's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn remove_stale_staging(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_STAGING);
            if stale && entry.file_name().to_string_lossy().starts_with("staging-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Removes the files of imports not in `committed` (the database's imports): left by
    /// imports of a database since restored from an older backup, whose numbers new imports
    /// will take again.
    pub fn retain(&self, committed: &std::collections::HashSet<i64>) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let number = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i64>().ok());
            if number.is_some_and(|n| !committed.contains(&n)) {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }

    /// Whether import `import` has its files (its directory exists).
    pub fn has(&self, import: i64) -> bool {
        self.import_dir(import).is_dir()
    }

    fn import_dir(&self, import: i64) -> PathBuf {
        self.dir.join(import.to_string())
    }

    /// A name for a temporary file or directory no other writer in any process uses.
    fn unique(&self, what: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{what}-{}-{nanos}-{n}", std::process::id())
    }

    /// The bytes of column `name` of chunk `chunk` of import `import`, as the database holds
    /// them; `None` when no file holds them. A file that fails its checksum is removed (the
    /// caller reads the database instead).
    pub fn read(&self, import: i64, chunk: i64, name: &str) -> Option<Vec<u8>> {
        self.read_with(import, chunk, name, |r, len| {
            let mut bytes = vec![0u8; len];
            r.read_exact(&mut bytes).map_err(|e| e.to_string())?;
            Ok(bytes)
        })
    }

    /// Column `name` of chunk `chunk` of import `import`, decoded by `decode` as its file is
    /// read, so that each part of it can go straight into the buffer that keeps it (see
    /// [`crate::datasets::chunk::decode_column`]); `None` when no file holds it. `decode` gets
    /// a reader of the file's data (the bytes [`ColumnFiles::read`] returns) and their length,
    /// and must read all of them. The checksum is taken as the data is read and checked at the
    /// end: a file that fails it, or that `decode` refuses or does not read to its end, is
    /// removed and `None` returned (the caller reads the database instead, as for a damaged
    /// file).
    pub fn read_with<T>(
        &self,
        import: i64,
        chunk: i64,
        name: &str,
        decode: impl FnOnce(&mut dyn io::Read, usize) -> Result<T, String>,
    ) -> Option<T> {
        let path = self.import_dir(import).join(file_name(chunk, name));
        let file = fs::File::open(&path).ok()?;
        let why = match checked_decode(file, decode) {
            Ok(value) => return Some(value),
            Err(why) => why,
        };
        tracing::warn!(path = %path.display(), "a column file {why}; reading the database instead");
        let _ = fs::remove_file(&path);
        None
    }

    /// Writes `data` and its checksum to `dir/name` through a temporary file.
    fn write_in(&self, dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
        let tmp = dir.join(self.unique(".tmp"));
        let written = (|| {
            // The owner's alone: `--column-files` may name a directory others can enter.
            let mut f = private_writer().create(true).truncate(true).open(&tmp)?;
            f.write_all(data)?;
            f.write_all(&crc32fast::hash(data).to_le_bytes())?;
            fs::rename(&tmp, dir.join(name))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// A staging directory for the files of an import being written (see [`Staged`]).
    pub fn stage(&self) -> io::Result<Staged<'_>> {
        let dir = self.dir.join(self.unique("staging"));
        make_dir(&dir)?;
        Ok(Staged {
            files: self,
            dir,
            published: false,
        })
    }
}

/// Bytes of a column file read through it into a decoder's buffers: whole reads larger than
/// this go to the file directly, the header's small reads come from this buffer.
const HEADER_BUFFER: usize = 8 * 1024;

/// The data of a column file, up to its checksum, hashed as it is read.
struct Checked {
    file: fs::File,
    left: usize,
    crc: crc32fast::Hasher,
}

impl io::Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left);
        let got = self.file.read(&mut buf[..n])?;
        self.crc.update(&buf[..got]);
        self.left -= got;
        Ok(got)
    }
}

/// `decode` run over `file`'s data, then the file's checksum checked; why not, when it fails.
fn checked_decode<T>(
    file: fs::File,
    decode: impl FnOnce(&mut dyn io::Read, usize) -> Result<T, String>,
) -> Result<T, String> {
    let len = file
        .metadata()
        .ok()
        .and_then(|m| usize::try_from(m.len()).ok())
        .and_then(|l| l.checked_sub(4))
        .ok_or("is shorter than its checksum")?;
    let data = Checked {
        file,
        left: len,
        crc: crc32fast::Hasher::new(),
    };
    let mut reader = io::BufReader::with_capacity(HEADER_BUFFER, data);
    // Whether the data fails to decode or fails the checksum, the file is not used; the
    // checksum is the likelier cause, so it is named first.
    let decoded = decode(&mut reader, len);
    if !reader.buffer().is_empty() || reader.get_ref().left != 0 {
        return Err(match decoded {
            Ok(_) => "holds more than its column".into(),
            Err(e) => format!("does not decode ({e})"),
        });
    }
    let mut data = reader.into_inner();
    let mut sum = [0u8; 4];
    data.file
        .read_exact(&mut sum)
        .map_err(|e| format!("cannot be read ({e})"))?;
    if data.crc.finalize().to_le_bytes() != sum {
        return Err("failed its checksum".into());
    }
    decoded.map_err(|e| format!("does not decode ({e})"))
}

/// The files of an import not yet committed: written into a directory of their own, moved
/// under the import's number by [`Staged::publish`] once it has committed, removed if it is
/// dropped unpublished (the import failed).
#[derive(Debug)]
pub struct Staged<'a> {
    files: &'a ColumnFiles,
    dir: PathBuf,
    published: bool,
}

impl Staged<'_> {
    /// Keeps a copy of column `name` of chunk `chunk`; `false` for raw identifiers, which
    /// are not kept (nothing is written).
    pub fn write(&self, chunk: i64, name: &str, data: &[u8]) -> io::Result<bool> {
        if name.starts_with(RAW_PREFIX) {
            return Ok(false);
        }
        self.files
            .write_in(&self.dir, &file_name(chunk, name), data)?;
        Ok(true)
    }

    /// Moves the files under committed import `import`, in place of any left there by an
    /// import of the same number that the database no longer holds (restored from a backup).
    pub fn publish(mut self, import: i64) -> io::Result<()> {
        let target = self.files.import_dir(import);
        match fs::remove_dir_all(&target) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::rename(&self.dir, &target)?;
        self.published = true;
        Ok(())
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(root: &Path) -> ColumnFiles {
        ColumnFiles::open(root, "00ff").unwrap()
    }

    /// Writes one column of one chunk of import `import` as an import does.
    fn import(f: &ColumnFiles, import: i64, chunk: i64, name: &str, data: &[u8]) {
        let staged = f.stage().unwrap();
        staged.write(chunk, name, data).unwrap();
        staged.publish(import).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn column_files_are_the_owners_alone_in_a_directory_others_can_enter() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let f = files(root.path());
        import(&f, 1, 0, "amount", b"some bytes");
        let path = f.import_dir(1).join(file_name(0, "amount"));
        assert_eq!(mode_of(&path), Some(0o600));
        assert_eq!(mode_of(f.dir()), Some(0o700));
        assert_eq!(
            mode_of(root.path()),
            Some(0o755),
            "an existing directory keeps its mode"
        );
    }

    #[test]
    fn a_written_column_reads_back_and_a_damaged_one_reads_as_missing() {
        let root = tempfile::tempdir().unwrap();
        let f = files(root.path());
        assert_eq!(f.read(1, 0, "amount"), None);
        import(&f, 1, 0, "amount", b"some bytes");
        assert_eq!(f.read(1, 0, "amount").as_deref(), Some(&b"some bytes"[..]));
        assert_eq!(f.read(1, 1, "amount"), None, "another chunk");
        assert_eq!(f.read(2, 0, "amount"), None, "another import");

        let path = f.dir().join("1").join(file_name(0, "amount"));
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(
            f.read(1, 0, "amount"),
            None,
            "a flipped bit fails the checksum"
        );
        assert!(!path.exists(), "and the damaged file is removed");

        import(&f, 1, 0, "amount", b"some bytes");
        let len = fs::metadata(&path).unwrap().len();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        assert_eq!(f.read(1, 0, "amount"), None, "a file cut short");
        fs::write(&path, b"").unwrap();
        assert_eq!(f.read(1, 0, "amount"), None, "an empty file");
    }

    #[test]
    fn raw_identifiers_are_never_written() {
        let root = tempfile::tempdir().unwrap();
        let f = files(root.path());
        import(&f, 2, 0, "raw:id_number", b"110101199001011234");
        assert_eq!(f.read(2, 0, "raw:id_number"), None);
        assert_eq!(fs::read_dir(f.dir().join("2")).unwrap().count(), 0);
    }

    #[test]
    fn staged_files_appear_only_once_published_and_vanish_when_dropped() {
        let root = tempfile::tempdir().unwrap();
        let f = files(root.path());
        let staged = f.stage().unwrap();
        staged.write(0, "amount", b"a").unwrap();
        assert_eq!(f.read(7, 0, "amount"), None, "not before it is published");
        staged.publish(7).unwrap();
        assert_eq!(f.read(7, 0, "amount").as_deref(), Some(&b"a"[..]));

        let dropped = f.stage().unwrap();
        dropped.write(0, "amount", b"b").unwrap();
        drop(dropped);
        let left: Vec<_> = fs::read_dir(f.dir()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "only import 7's directory is left: {left:?}");
    }

    #[test]
    fn files_of_imports_the_database_no_longer_holds_are_never_read() {
        let root = tempfile::tempdir().unwrap();
        let f = files(root.path());
        // Imports 8 and 9 of a database later restored from a backup holding only 8.
        import(&f, 8, 0, "amount", b"eight");
        import(&f, 9, 0, "amount", b"old nine");
        import(&f, 9, 1, "amount", b"old nine, chunk 1");
        f.retain(&[8].into()).unwrap();
        assert_eq!(f.read(8, 0, "amount").as_deref(), Some(&b"eight"[..]));
        assert_eq!(f.read(9, 0, "amount"), None);
        // A new import 9, and one that finds an old 10 in its place.
        import(&f, 9, 0, "amount", b"new nine");
        import(&f, 10, 1, "amount", b"old ten, chunk 1");
        import(&f, 10, 0, "amount", b"new ten");
        assert_eq!(f.read(9, 0, "amount").as_deref(), Some(&b"new nine"[..]));
        assert_eq!(f.read(10, 0, "amount").as_deref(), Some(&b"new ten"[..]));
        assert_eq!(
            f.read(10, 1, "amount"),
            None,
            "nothing of the old 10 is left"
        );
    }

    #[test]
    fn an_identity_that_is_not_hex_is_refused() {
        let root = tempfile::tempdir().unwrap();
        for bad in ["", "../etc", "ab/cd"] {
            let e = ColumnFiles::open(root.path(), bad).unwrap_err();
            assert!(e.to_string().contains("not a hex string"), "{e}");
        }
    }

    /// Reads column `name` of chunk 0 of import 1 through [`ColumnFiles::read_with`], the
    /// decoder reading `take` bytes (all of them when `None`) and failing when `fail`.
    fn read_with(f: &ColumnFiles, take: Option<usize>, fail: bool) -> Option<Vec<u8>> {
        f.read_with(1, 0, "amount", |r, len| {
            let mut buf = vec![0u8; take.unwrap_or(len)];
            r.read_exact(&mut buf).map_err(|e| e.to_string())?;
            if fail {
                return Err("refused".into());
            }
            Ok(buf)
        })
    }

    #[test]
    fn a_column_decoded_as_it_is_read_is_checked_whole() {
        let root = tempfile::tempdir().unwrap();
        let f = files(root.path());
        let path = f.dir().join("1").join(file_name(0, "amount"));
        assert_eq!(read_with(&f, None, false), None, "no file");
        import(&f, 1, 0, "amount", b"some bytes");
        assert_eq!(
            read_with(&f, None, false).as_deref(),
            Some(&b"some bytes"[..])
        );

        assert_eq!(
            read_with(&f, Some(4), false),
            None,
            "a decoder that stops short"
        );
        assert!(!path.exists(), "the file is not used again");
        import(&f, 1, 0, "amount", b"some bytes");
        assert_eq!(read_with(&f, None, true), None, "a decoder that refuses");
        assert!(!path.exists());

        import(&f, 1, 0, "amount", b"some bytes");
        let mut bytes = fs::read(&path).unwrap();
        bytes[3] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(
            read_with(&f, None, false),
            None,
            "a flipped bit fails the checksum"
        );
        assert!(!path.exists());

        import(&f, 1, 0, "amount", b"some bytes");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(read_with(&f, None, false), None, "shorter than a checksum");
    }
}

//! File operations that never follow a symbolic link, for what stockroom does as root next to
//! directories the `postgres` user owns (and `postgres` is a superuser from SQL, so it can
//! plant links): the last component is opened with `O_NOFOLLOW`, owner and mode are set with
//! `fchown`/`fchmod` on the opened file, and a link found where a file or directory of ours
//! belongs is removed (unlinking removes the link, never its target).

use std::{
    fs::{self, DirBuilder, File, OpenOptions, Permissions},
    io::{self, Read, Seek, SeekFrom, Write},
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt, fchown},
    path::Path,
};

use nix::libc;

/// Who should own what is created (uid, gid); `None` leaves it to the creating user.
pub type Owner = Option<(u32, u32)>;

/// Opens `path` for reading, refusing a symbolic link as its last component.
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Reads a small text file without following a symbolic link.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open_read(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// The last `lines` lines of what was written to `path` after `offset` (empty when it cannot
/// be read).
pub fn tail(path: &Path, offset: u64, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut file) = open_read(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Removes a symbolic link found at `path`; says whether there was one.
fn remove_planted_link(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            tracing::warn!(
                path = %path.display(),
                "removed a symbolic link where stockroom keeps a file of its own (stockroom \
                 never makes one there)"
            );
            fs::remove_file(path)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
        .open(path)
}

fn set_owner_and_mode(file: &File, mode: u32, owner: Owner) -> io::Result<()> {
    if let Some((uid, gid)) = owner {
        fchown(file, Some(uid), Some(gid))?;
    }
    file.set_permissions(Permissions::from_mode(mode))
}

/// Makes `path` a directory with `mode`, owned by `owner`: created when missing (a planted
/// link is replaced); owner and mode are set on the opened directory, so nothing swapped in
/// between the check and the change can redirect them.
pub fn ensure_dir(path: &Path, mode: u32, owner: Owner) -> io::Result<()> {
    remove_planted_link(path)?;
    match DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    set_owner_and_mode(&open_dir(path)?, mode, owner)
}

/// Creates a new directory at `path` (never one that exists, nor through a link), gives it to
/// `owner` with `mode`, and checks the result on the opened directory.
pub fn create_private_dir(path: &Path, mode: u32, owner: (u32, u32)) -> io::Result<()> {
    DirBuilder::new().mode(mode).create(path)?;
    let dir = open_dir(path)?;
    set_owner_and_mode(&dir, mode, Some(owner))?;
    let meta = dir.metadata()?;
    if !meta.is_dir() || meta.uid() != owner.0 || meta.mode() & 0o7777 != mode {
        return Err(io::Error::other(
            "its owner or mode is not the one just set",
        ));
    }
    Ok(())
}

/// Opens `path` for appending (created when missing, a planted link replaced), checks it is a
/// regular file and gives it to `owner` with `mode`.
pub fn ensure_file(path: &Path, mode: u32, owner: Owner) -> io::Result<File> {
    remove_planted_link(path)?;
    // O_NONBLOCK: a planted FIFO must not block the start (no effect on a regular file).
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    set_owner_and_mode(&file, mode, owner)?;
    Ok(file)
}

/// Writes a small record file whole: into a fresh temporary beside it, then renamed over it.
pub fn write_record(path: &Path, contents: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    remove_planted_link(&tmp)?;
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sr-safe-fs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_planted_link_is_replaced_and_its_target_is_left_alone() {
        let dir = scratch("link");
        let target = dir.join("target");
        fs::write(&target, "keep").unwrap();
        fs::set_permissions(&target, Permissions::from_mode(0o644)).unwrap();
        let link = dir.join("postgres.log");
        symlink(&target, &link).unwrap();
        ensure_file(&link, 0o600, None).unwrap();
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o644);

        let run = dir.join("run");
        symlink(dir.join("elsewhere"), &run).unwrap();
        fs::create_dir(dir.join("elsewhere")).unwrap();
        ensure_dir(&run, 0o700, None).unwrap();
        assert!(fs::symlink_metadata(&run).unwrap().is_dir());
        assert!(open_read(&link).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reading_through_a_link_is_refused() {
        let dir = scratch("read");
        fs::write(dir.join("secret"), "x").unwrap();
        symlink(dir.join("secret"), dir.join("postmaster.pid")).unwrap();
        assert!(read_to_string(&dir.join("postmaster.pid")).is_err());
        assert_eq!(tail(&dir.join("postmaster.pid"), 0, 5), "");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_private_directory_is_never_one_that_exists() {
        let dir = scratch("private");
        let taken = dir.join("taken");
        symlink("/", &taken).unwrap();
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        assert!(create_private_dir(&taken, 0o700, me).is_err());
        create_private_dir(&dir.join("fresh"), 0o700, me).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}

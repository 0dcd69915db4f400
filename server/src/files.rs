//! Files in the data folder hold secrets (the application key, the SQLite
//! database with password hashes and sealed seeds, queued mail with links):
//! they are created readable by this user only, and start-up warns about
//! existing ones that others can read.

use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700 on Unix. An existing
/// folder keeps its mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty `path` with mode 0600 on Unix unless it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// True when `path` exists and its group or other users have any access.
pub fn open_to_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Logs a warning when `path` (`what`, e.g. "the application key") is open
/// to other users of this machine.
pub fn warn_if_open_to_others(path: &Path, what: &str) {
    if open_to_others(path) {
        tracing::warn!(
            path = %path.display(),
            "{what} can be read by other users of this machine; run `chmod 600 {}`",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// L7: what `uni1 serve` leaves in a fresh data folder is private.
    #[cfg(unix)]
    #[tokio::test]
    async fn start_up_creates_a_private_data_folder() {
        let root = std::env::temp_dir().join(format!("uni1-files-{}", uuid::Uuid::new_v4()));
        let data = root.join("data");
        create_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);

        let settings = crate::config::DatabaseSettings {
            url: format!("sqlite://{}/uni1.db?mode=rwc", data.display()).into(),
            max_connections: 1,
        };
        let db = crate::db::connect(&settings).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        db.close().await.unwrap();
        assert_eq!(mode(&data.join("uni1.db")), 0o600);
        for side in ["uni1.db-wal", "uni1.db-shm"] {
            let side = data.join(side);
            if side.exists() {
                assert_eq!(mode(&side), 0o600, "{}", side.display());
            }
        }

        crate::app_key(None, &data).unwrap();
        assert_eq!(mode(&data.join("app.key")), 0o600);
        assert!(!open_to_others(&data.join("app.key")));
        assert!(!open_to_others(&data.join("uni1.db")));
        std::fs::remove_dir_all(root).ok();
    }

    #[cfg(unix)]
    #[test]
    fn files_open_to_others_are_noticed() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir().join(format!("uni1-loose-{}", uuid::Uuid::new_v4()));
        create_private_file(&path).unwrap();
        assert!(!open_to_others(&path));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(open_to_others(&path));
        create_private_file(&path).unwrap();
        assert_eq!(mode(&path), 0o640, "an existing file is left alone");
        std::fs::remove_file(path).ok();
        assert!(!open_to_others(Path::new("/no/such/uni1/file")));
    }
}

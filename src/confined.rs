//! Files sipprov serves or writes inside its data dir. Names are checked
//! where they arrive, but a symlink placed in a folder could still point
//! anywhere, so each path is resolved and must land inside its folder.

use std::path::{Path, PathBuf};

/// `path` with every link resolved, if it exists and lies inside `root`.
pub async fn within(root: &Path, path: &Path) -> Option<PathBuf> {
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let real = tokio::fs::canonicalize(path).await.ok()?;
    real.starts_with(&root).then_some(real)
}

/// The same, for code that is not async (template loading).
pub fn within_blocking(root: &Path, path: &Path) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let real = path.canonicalize().ok()?;
    real.starts_with(&root).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn links_out_of_the_folder_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "s").unwrap();
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("inside.bin");
        std::fs::write(&inside, "i").unwrap();
        std::os::unix::fs::symlink(&secret, root.path().join("link.bin")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("dir")).unwrap();
        std::os::unix::fs::symlink(&inside, root.path().join("alias.bin")).unwrap();

        assert!(within(root.path(), &inside).await.is_some());
        assert!(
            within(root.path(), &root.path().join("alias.bin")).await.is_some(),
            "a link that stays inside"
        );
        for escaping in ["link.bin", "dir/secret", "../secret", "missing.bin"] {
            assert!(
                within(root.path(), &root.path().join(escaping)).await.is_none(),
                "{escaping}"
            );
            assert!(
                within_blocking(root.path(), &root.path().join(escaping)).is_none(),
                "{escaping}"
            );
        }
        assert!(
            within(root.path(), &secret).await.is_none(),
            "an absolute path elsewhere"
        );
    }
}

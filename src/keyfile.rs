//! Key files: secret keys are read only when their owner alone can read them, written
//! with mode 0600, and never printed.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use depositary_core::{PublicKey, SecretKey};

/// The largest key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Reads a PKCS#8 PEM secret key, refusing a file that group or others may read.
pub fn read_secret(path: &Path) -> Result<SecretKey> {
    let meta =
        fs::metadata(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    if !meta.is_file() {
        bail!("key file {} is not a regular file", path.display());
    }
    check_private(path, &meta)?;
    let bytes = zeroize::Zeroizing::new(
        crate::lines::read_bounded(path, MAX_KEY_FILE)
            .with_context(|| format!("cannot read key file {}", path.display()))?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("key file {} is not PEM text", path.display()))?;
    SecretKey::from_pkcs8_pem(text).with_context(|| format!("key file {}", path.display()))
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "key file {} has permissions {mode:04o}: a secret key must be readable by its owner only; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &fs::Metadata) -> Result<()> {
    Ok(())
}

/// Reads a public key given as 64 hex digits or as the path of a SubjectPublicKeyInfo PEM
/// file.
pub fn read_public(arg: &str) -> Result<PublicKey> {
    if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        let key: PublicKey = arg
            .to_ascii_lowercase()
            .parse()
            .with_context(|| format!("public key {arg}"))?;
        depositary_core::keys::check_public(key).with_context(|| format!("public key {arg}"))?;
        return Ok(key);
    }
    let path = Path::new(arg);
    if !path.exists() {
        bail!("{arg} is neither a public key in hex (64 digits) nor a readable .pub.pem file");
    }
    let bytes = crate::lines::read_bounded(path, MAX_KEY_FILE)
        .with_context(|| format!("cannot read public key file {arg}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("public key file {arg} is not PEM text"))?;
    PublicKey::from_spki_pem(&text).with_context(|| format!("public key file {arg}"))
}

/// The public key file that goes beside a secret key file: `x.pem` → `x.pub.pem`.
pub fn public_path(secret: &Path) -> PathBuf {
    let name = secret
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".pem").unwrap_or(&name);
    secret.with_file_name(format!("{stem}.pub.pem"))
}

/// Writes a new key pair; refuses to overwrite either file.
pub fn write_pair(secret_path: &Path, key: &SecretKey) -> Result<PathBuf> {
    let public_path = public_path(secret_path);
    for p in [secret_path, public_path.as_path()] {
        if p.exists() {
            bail!(
                "{} already exists; keygen never overwrites a key",
                p.display()
            );
        }
    }
    let pem = key.to_pkcs8_pem()?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(secret_path)
        .with_context(|| format!("cannot create {}", secret_path.display()))?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", secret_path.display()))?;
    let public_pem = key.public().to_spki_pem()?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public_path)
        .with_context(|| format!("cannot create {}", public_path.display()))?;
    f.write_all(public_pem.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    Ok(public_path)
}
